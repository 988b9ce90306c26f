//! Compiles the C half of DbgPrint/DbgPrintEx (variadic functions stable Rust cannot define).

fn main() {
    println!("cargo::rerun-if-changed=csrc/dbgprint.c");
    cc::Build::new()
        .file("csrc/dbgprint.c")
        .warnings(true)
        .compile("wdm_sim_dbgprint");
}
