// Attack that fails: duplicate the `Unlocked` proof with `mem::take` / `Default` (to hold one
// while a lock borrows the other). It is not `Default`.
use wdm::Unlocked;

fn twin(cx: &mut Unlocked) -> Unlocked {
    std::mem::take(cx)
}

fn main() {
    let _ = twin;
}
