//! `rdbshift memory`: what each key of a dump costs in a server's RAM.
//!
//! - [`alloc`]: allocator size classes;
//! - [`target`]: the server estimated for (its family of layouts, allocator, thresholds);
//! - [`sizes`], [`rax`]: the sizes of the small parts;
//! - [`model`]: one key's estimate, from one pass over its value.

pub mod alloc;
pub mod model;
pub mod rax;
pub mod sizes;
pub mod target;

pub use alloc::Allocator;
pub use model::{Cost, Encoding, estimate};
pub use target::{Family, Limits, Target};
pub mod render;
pub mod sample;
pub mod scan;
pub mod tally;
