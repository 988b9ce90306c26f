pub(crate) mod devqueue;
pub(crate) mod dispatcher;
pub(crate) mod irql;
pub(crate) mod sched;
pub(crate) mod spinlock;
pub(crate) use dispatcher::*;
