// A StartIo mode that claims deferral (or not) is the framework's to declare: `Mode` is sealed.
use wdm::start_io::Mode;

struct Fake;

impl Mode for Fake {
    const DEFERRED: bool = true;
}

fn main() {}
