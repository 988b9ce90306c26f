pub(crate) mod pool;
