//! The README's getting-started program is `examples/getting_started.rs`, whole: the README
//! shows the file that CI runs and a real Prometheus scrapes (`.ci/prometheus-e2e.sh`), so
//! the two cannot drift apart.

#[test]
fn the_readme_shows_the_getting_started_example_whole() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/getting_started.rs");
    let block = readme
        .split("```rust,ignore\n")
        .skip(1)
        .map(|rest| &rest[..rest.find("```").expect("an unclosed code block")])
        .find(|block| block.contains("ShardstatRecorder::builder()"))
        .expect("the README has a `rust,ignore` block with the getting-started program");
    assert!(
        block == example,
        "the README's getting-started block differs from examples/getting_started.rs: \
         copy the file into the README"
    );
}
