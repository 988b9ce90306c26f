//! On the WDK path (feature `wdk`, Windows host with the WDK) wdk-build configures the build
//! against the installed WDK. It sets the driver link flags for `cdylib` targets only; this
//! sample's image is a `bin` (so it is not flagged as a DLL), so the same flags are given to
//! bins here. The bundled path gets its flags from `cargo xtask sys`; host builds need nothing.

fn main() {
    #[cfg(feature = "wdk")]
    {
        wdk_build::configure_wdk_binary_build().expect("the WDK is installed and configured");
        for arg in [
            "/DRIVER:WDM",
            "/NODEFAULTLIB",
            "/SUBSYSTEM:NATIVE",
            "/KERNEL",
            "/ENTRY:DriverEntry",
        ] {
            println!("cargo::rustc-link-arg-bins={arg}");
        }
    }
}
