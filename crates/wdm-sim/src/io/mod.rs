pub(crate) mod cancel;
pub(crate) mod csq;
pub(crate) mod irp;
pub(crate) mod remlock;
pub(crate) mod request;
pub(crate) mod startio;
