//! The end-to-end scenario (`wdm_e2e_scenario::STARTIO`) on the simulator: the same steps the
//! client carries out under Wine, with the transcript both must produce. `cargo xtask e2e`
//! runs this test, reads the transcript it prints, and compares it line by line with the one
//! the client printed under Wine.

use startio::StartIoSample;
use wdm_e2e_scenario::STARTIO;
use wdm_e2e_scenario::sim::Simulator;
use wdm_sim::Kernel;

#[test]
fn the_end_to_end_scenario_gives_the_expected_transcript() {
    let kernel = Kernel::new();
    let driver = kernel
        .load("startio", wdm::entry::<StartIoSample>)
        .expect("DriverEntry succeeds");
    let result = STARTIO.check(&mut Simulator::new(&kernel));
    driver.unload();
    kernel.assert_clean();
    match result {
        Ok(transcript) => println!("--- transcript\n{transcript}--- end"),
        Err(e) => panic!("{e}"),
    }
}
