//! docs/simulator.md lists every rule the simulator checks, with its stop code and SDV rule.

use wdm_sim::Rule;

#[test]
fn the_rule_table_lists_every_rule_with_its_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/simulator.md")).unwrap();
    for rule in Rule::ALL {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{rule:?}` |")))
            .unwrap_or_else(|| panic!("docs/simulator.md has no row for {rule:?}"));
        assert!(
            row.contains(&format!("| {} |", rule.stop_code())),
            "{rule:?}: code {} missing in `{row}`",
            rule.stop_code()
        );
        assert!(
            row.contains(&format!("{:?}", rule.severity())),
            "{rule:?}: severity missing"
        );
        if let Some(sdv) = rule.sdv_rule() {
            assert!(row.contains(sdv), "{rule:?}: SDV rule {sdv} missing");
        }
    }
}
