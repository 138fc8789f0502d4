//! The write path: commands decided against current state (`decide`) and appended in
//! groups with one sync by the single writer thread (`writer`).

pub(crate) mod decide;
pub(crate) mod writer;
