//! Picks the backend (see the crate docs) and tells dependents through `links` metadata
//! (`DEP_WDM_SYS_BACKEND`), so that `wdm` and wdm-sys never disagree.

fn main() {
    let windows = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "windows");
    let wdk = std::env::var_os("CARGO_FEATURE_WDK").is_some();
    let sim = std::env::var_os("CARGO_FEATURE_SIM").is_some();
    let backend = if sim || !windows {
        "sim"
    } else if wdk {
        "wdk"
    } else {
        "kernel"
    };
    println!("cargo::rustc-check-cfg=cfg(wdm_backend, values(\"wdk\", \"kernel\", \"sim\"))");
    println!("cargo::rustc-cfg=wdm_backend=\"{backend}\"");
    println!("cargo::metadata=backend={backend}");
    println!("cargo::rerun-if-changed=build.rs");
}
