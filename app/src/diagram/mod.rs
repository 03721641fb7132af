//! The flow diagram's geometry: a workflow definition as a graph ([`graph`]) and its layered layout
//! ([`layout`]), computed in Rust so the server-rendered page and the browser draw the same picture.
//! Pure data in, coordinates out; the SVG component builds on it.

pub mod graph;
pub mod layout;
