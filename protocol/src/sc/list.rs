//! List (api key 1003): the objects of one kind whose names match the filters.

use crate::sc::kind_enum::kind_enum;
use crate::sc::metadata::{Metadata, ObjectSpec};
use crate::wire_struct;

wire_struct! {
    /// Matches objects whose name contains `name`.
    pub struct ListFilter {
        pub name: String,
    }
}

wire_struct! {
    pub struct ListRequest {
        /// Any one filter matching admits an object; no filters admit every object.
        pub filters: Vec<ListFilter>,
        pub summary: bool [10..],
        pub system: bool [13..],
    }
}

/// Does an object named `name` pass `filters`? It does when any filter's string is
/// contained in the name, or when there are no filters.
pub fn filters_match(filters: &[ListFilter], name: &str) -> bool {
    filters.is_empty() || filters.iter().any(|f| name.contains(f.name.as_str()))
}

impl ListRequest {
    /// A request with one filter per name.
    pub fn with_names<I, N>(names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        Self {
            filters: names
                .into_iter()
                .map(|n| ListFilter { name: n.into() })
                .collect(),
            ..Self::default()
        }
    }

    /// See [`filters_match`].
    pub fn matches(&self, name: &str) -> bool {
        filters_match(&self.filters, name)
    }
}

/// The payload of a list response for objects of kind `S`.
pub type ListResponse<S> = Vec<Metadata<S>>;

kind_enum! {
    /// A list request as a server decodes it: the kind comes from the typed buffer's label.
    pub enum ObjectListRequest(ListRequest);
}

kind_enum! {
    /// A list response as a client decodes it (or a server builds it). The client fails if
    /// the label differs from the one it asked for.
    pub enum ObjectListResponse: ListResponse<S: ObjectSpec> by wrap_list / unwrap_list,
        strategy = "crate::sc::metadata::arb::small_vec()";
}

impl ObjectListResponse {
    /// How many objects are listed.
    pub fn len(&self) -> usize {
        match self {
            Self::Topic(v) => v.len(),
            Self::Partition(v) => v.len(),
            Self::Spu(v) => v.len(),
            Self::CustomSpu(v) => v.len(),
            Self::AuthToken(v) => v.len(),
            Self::PartitionState(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_contains_filters() {
        assert!(filters_match(&[], "anything"));
        let request = ListRequest::with_names(["dem", "xyz"]);
        assert!(request.matches("demo"));
        assert!(request.matches("a-xyz-b"));
        assert!(!request.matches("other"));
        assert!(ListRequest::with_names([""]).matches("x"));
    }
}
