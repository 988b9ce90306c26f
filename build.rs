//! `wdm` uses the backend `wdm-sys` picked (passed through `links` metadata), so the two can
//! never disagree.

fn main() {
    let backend = std::env::var("DEP_WDM_SYS_BACKEND").expect("wdm-sys declares links = \"wdm-sys\"");
    println!("cargo::rustc-check-cfg=cfg(wdm_backend, values(\"wdk\", \"kernel\", \"sim\"))");
    println!("cargo::rustc-cfg=wdm_backend=\"{backend}\"");
    println!("cargo::rerun-if-env-changed=DEP_WDM_SYS_BACKEND");
}
