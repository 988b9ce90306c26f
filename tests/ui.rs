//! Compile-fail proof of every rule the API encodes: each `tests/ui/fail` case makes the
//! mistake and must not compile (its expected compiler message is checked in beside it); each
//! `tests/ui/pass` case is the correct twin and must compile. See docs/rules.md.

#[test]
fn rules_are_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
