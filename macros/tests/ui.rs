//! Compile-time behaviour of `#[runtime_id]`: what compiles (`tests/ui/pass`), and the
//! error each mistake gets (`tests/ui/fail`, one file per mistake, its `.stderr` beside it).
//!
//! After a deliberate change to a message, refresh the snapshots with
//! `TRYBUILD=overwrite cargo test -p token-runtime-id-macros --test ui`, and read them.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
