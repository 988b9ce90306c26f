//! On the WDK path (feature `wdk`, Windows host with the WDK), wdk-build sets up the driver
//! link; the bundled path gets its linker flags from `cargo xtask sys`, and host builds need
//! nothing.

fn main() {
    #[cfg(feature = "wdk")]
    wdk_build::configure_wdk_binary_build().expect("the WDK is installed and configured");
}
