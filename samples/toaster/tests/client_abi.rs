//! The end-to-end client's restatement of the toaster's interface (`e2e/client/src/toaster_abi.rs`,
//! which the Windows client cannot get from this `no_std` kernel crate) matches the driver's.

#[path = "../../../e2e/client/src/toaster_abi.rs"]
#[allow(dead_code)]
mod client;

#[test]
fn the_client_s_constants_are_the_driver_s() {
    assert_eq!(
        wdm::pnp::Guid::from_u128(client::GUID_DEVINTERFACE_TOASTER),
        toaster::GUID_DEVINTERFACE_TOASTER
    );
    assert_eq!(client::CAPACITY, toaster::CAPACITY);
    assert_eq!(client::IOCTL_TOASTER_GET_STATS, toaster::IOCTL_TOASTER_GET_STATS);
    assert_eq!(client::IOCTL_TOASTER_WAIT, toaster::IOCTL_TOASTER_WAIT);
    assert_eq!(client::Stats::SIZE, toaster::Stats::SIZE);
}

#[test]
fn the_client_decodes_the_driver_s_stats() {
    let stats = toaster::Stats {
        starts: 1,
        stops: 2,
        d0_entries: 3,
        d0_exits: 4,
        reads: 5,
        writes: 6,
        waits: 0x0102_0304,
    };
    let decoded = client::Stats::decode(&stats.to_bytes()).expect("the driver's encoding");
    assert_eq!(
        [
            decoded.starts,
            decoded.stops,
            decoded.d0_entries,
            decoded.d0_exits,
            decoded.reads,
            decoded.writes,
            decoded.waits
        ],
        [1, 2, 3, 4, 5, 6, 0x0102_0304]
    );
    assert_eq!(client::Stats::decode(&[0; 27]), None);
}
