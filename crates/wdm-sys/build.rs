//! Picks the backend (see the crate docs) and tells dependents through `links` metadata
//! (`DEP_WDM_SYS_BACKEND`), so that `wdm` and wdm-sys never disagree.
//!
//! On the `sim` backend every kernel routine and callback type is `extern "C-unwind"`: a bug
//! check in the simulator ends the scenario by unwinding through driver frames back to the test,
//! which `extern "C"` forbids (it aborts the process). The generated files are copied to
//! `OUT_DIR` with that one change; the kernel backend includes them as they are.

use std::path::Path;

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

    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for name in ["types.rs", "ntddk.rs", "hal.rs"] {
        let src = Path::new("src/generated").join(name);
        println!("cargo::rerun-if-changed={}", src.display());
        let text = std::fs::read_to_string(&src).expect("generated bindings are checked in");
        let text = if backend == "sim" {
            text.replace("extern \"C\"", "extern \"C-unwind\"")
        } else {
            text
        };
        std::fs::write(Path::new(&out).join(name), text).expect("OUT_DIR is writable");
    }
}
