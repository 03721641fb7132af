//! The flow diagram: a workflow definition as a graph ([`graph`]), its layered layout ([`layout`]),
//! what a run or the monitoring aggregates draw on it ([`marks`]), and the SVG component ([`view`]).
//! Geometry is computed in Rust, so the server-rendered page and the browser draw the same picture.

pub mod graph;
pub mod layout;
pub mod marks;
pub mod view;

pub use marks::{instance_marks, Marks, NodeMark, NodeStatus};
pub use view::{DiagramLegend, FlowDiagram};
