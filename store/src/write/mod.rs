//! The write path: commands decided against current state (`decide`), gathered into
//! groups (`group`) and appended with one sync each by the single writer thread (`writer`).

pub(crate) mod decide;
mod group;
pub(crate) mod writer;
