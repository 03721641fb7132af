//! Pieces the pages are built from.

pub mod access;
pub mod charts;
pub mod empty_state;
pub mod inbox_badge;
pub mod layout;
pub mod page_header;
pub mod status;
pub mod workflow_select;
