//! Borrowed ids for the calls that take two of them side by side
//! (`add_member(workspace, user)`, `session::start(user, workspace)`, …):
//! typed, so that swapping them does not compile. Rows and views keep plain
//! strings; the wrapper is made at the call.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name<'a>(pub &'a str);

        impl<'a> $name<'a> {
            pub fn as_str(self) -> &'a str {
                self.0
            }
        }
    };
}

id_type!(
    /// A user's id (`users.id`).
    UserId
);
id_type!(
    /// A workspace's id (`workspaces.id`).
    WorkspaceId
);
id_type!(
    /// An API key's id (`api_keys.id`).
    KeyId
);
