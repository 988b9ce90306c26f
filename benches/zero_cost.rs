//! Runs `WDM_ZC_N` buffered IOCTL round trips through one of the two zero-cost drivers
//! (`WDM_ZC_DRIVER=raw` or `wdm`) on the simulator. `cargo xtask zero-cost` runs it under
//! callgrind for two values of N and compares instructions per round trip.

use wdm::sys::{IRP_MJ_DEVICE_CONTROL, STATUS_SUCCESS};

fn main() {
    let which = std::env::var("WDM_ZC_DRIVER").unwrap_or_else(|_| "wdm".into());
    let n: usize = std::env::var("WDM_ZC_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let kernel = wdm_sim::Kernel::new();
    let (driver, path) = match which.as_str() {
        "raw" => (
            kernel.load("zcraw", zero_cost_raw::entry).expect("loads"),
            r"\Device\ZcRaw",
        ),
        _ => (
            kernel
                .load("zcwdm", wdm::entry::<zero_cost_wdm::Reverse>)
                .expect("loads"),
            r"\Device\ZcWdm",
        ),
    };
    let file = kernel.open(path).expect("opens");
    for _ in 0..n {
        let r = file.call(
            IRP_MJ_DEVICE_CONTROL,
            0x0022_2000,
            wdm_sim::Buffers {
                input: b"abcdefgh".to_vec(),
                output: vec![0; 8],
            },
        );
        assert_eq!((r.status, r.information), (STATUS_SUCCESS, 8));
    }
    file.close();
    driver.unload();
    kernel.assert_clean();
    println!("{which}: {n} IOCTL round trips");
}
