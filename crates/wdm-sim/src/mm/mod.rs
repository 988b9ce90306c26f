pub(crate) mod mdl;
