//! Prints the rule table of docs/simulator.md.
fn main() {
    for r in wdm_sim::Rule::ALL {
        println!(
            "| `{:?}` | {} | {:?} | {} | {} |",
            r,
            r.stop_code(),
            r.severity(),
            r.sdv_rule().unwrap_or("—"),
            r.title()
        );
    }
}
