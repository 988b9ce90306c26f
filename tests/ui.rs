//! Compile-fail proof of every rule the API encodes, and the standing hostile suite: each
//! `tests/ui/fail/<guarantee>/` case makes the mistake, or attacks the guarantee with safe code
//! (a forged proof, a trait impl, `mem::forget`, a static, a thread, a copy), and must not
//! compile; its expected compiler message is checked in beside it. Each `tests/ui/pass` case is
//! a correct twin and must compile. The groups are the attack surfaces listed in
//! docs/soundness.md; docs/rules.md maps the rules to them.

#[test]
fn rules_are_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
