// Nor can it be stashed in a static for later (the proof is neither Send nor Sync).
use std::sync::Mutex;
use wdm::Unlocked;

static STASH: Mutex<Option<&'static mut Unlocked>> = Mutex::new(None);

fn main() {
    let _ = &STASH;
}
