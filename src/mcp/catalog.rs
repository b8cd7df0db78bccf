//! The MCP tools: each names the REST route it runs (method and path template, as in
//! `http::router::ROUTES`), how it finds its workspace, and its behaviour hints. Nothing else
//! about a tool is written here: its schemas and the rest of its description are derived from
//! `src/openapi.json` (see `schema.rs`). Plain data with no imports, so `build.rs` reads this
//! same file.

/// One tool: a REST operation under another name.
pub struct Tool {
    /// Dotted, as the call shapes the product documents (`posts.get`).
    pub name: &'static str,
    /// The REST route it runs: method and template under `/api/v1`.
    pub method: &'static str,
    pub path: &'static str,
    /// How the workspace is found, for the description.
    pub workspace: &'static str,
    pub hints: Hints,
}

/// MCP `ToolAnnotations`: hints for clients, never a security boundary.
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// Reaches outside this API (a social network, a URL on the internet).
    pub open_world: bool,
}

const READ: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: false,
};

/// Adds rows; calling twice adds twice.
const CREATE: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: false,
};

/// Changes a row to a state the arguments name; calling twice changes nothing more.
const SET: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: true,
    open_world: false,
};

/// Overwrites or removes what was there; calling twice changes nothing more.
const REMOVE: Hints = Hints {
    read_only: false,
    destructive: true,
    idempotent: true,
    open_world: false,
};

const FAN_OUT: &str = "Workspace: fan-out. Without `workspaceId` it lists every workspace the credential reaches (a scoped key: only its allow-list), merged, newest first; `workspaceId` narrows it to one, refused (403 WORKSPACE_FORBIDDEN) if the credential does not reach it.";
const EXPLICIT: &str = "Workspace: explicit. `workspaceId` names it (required); refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.";

pub const TOOLS: &[Tool] = &[
    Tool {
        name: "workspaces.list",
        method: "GET",
        path: "/workspaces",
        workspace: "Workspace: fan-out. Lists the workspaces the credential reaches (a scoped key: only its allow-list), oldest first.",
        hints: READ,
    },
    Tool {
        name: "workspaces.get",
        method: "GET",
        path: "/workspaces/{workspaceId}",
        workspace: EXPLICIT,
        hints: READ,
    },
    Tool {
        name: "socialAccounts.list",
        method: "GET",
        path: "/social-accounts",
        workspace: FAN_OUT,
        hints: READ,
    },
    Tool {
        name: "socialAccounts.get",
        method: "GET",
        path: "/social-accounts/{accountId}",
        workspace: "Workspace: derived from `accountId` (an account id names its workspace); refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: READ,
    },
    Tool {
        name: "socialAccounts.disconnect",
        method: "DELETE",
        path: "/social-accounts/{accountId}",
        workspace: "Workspace: derived from `accountId`; refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: REMOVE,
    },
    Tool {
        name: "posts.list",
        method: "GET",
        path: "/posts",
        workspace: FAN_OUT,
        hints: READ,
    },
    Tool {
        name: "posts.get",
        method: "GET",
        path: "/posts/{postId}",
        workspace: "Workspace: derived from `postId` (a post id names its workspace); refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: READ,
    },
    Tool {
        name: "posts.create",
        method: "POST",
        path: "/posts",
        workspace: "Workspace: derived from the accounts in `platforms` (or `targets`), which must all be of one workspace; `workspaceId`, if given, must agree. Refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: CREATE,
    },
    Tool {
        name: "posts.update",
        method: "PATCH",
        path: "/posts/{postId}",
        workspace: "Workspace: derived from `postId`; refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: REMOVE,
    },
    Tool {
        name: "posts.schedule",
        method: "POST",
        path: "/posts/{postId}/schedule",
        workspace: "Workspace: derived from `postId`; refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: Hints {
            open_world: true,
            ..SET
        },
    },
    Tool {
        name: "posts.cancel",
        method: "POST",
        path: "/posts/{postId}/cancel",
        workspace: "Workspace: derived from `postId`; refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: REMOVE,
    },
    Tool {
        name: "posts.retry",
        method: "POST",
        path: "/posts/{postId}/retry",
        workspace: "Workspace: derived from `postId`; refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: Hints {
            open_world: true,
            ..CREATE
        },
    },
    Tool {
        name: "posts.delete",
        method: "DELETE",
        path: "/posts/{postId}",
        workspace: "Workspace: derived from `postId`; refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: REMOVE,
    },
    Tool {
        name: "comments.list",
        method: "GET",
        path: "/comments",
        workspace: "Workspace: fan-out. Without `workspaceId` or `postId` it lists every workspace the credential reaches (a scoped key: only its allow-list), merged, newest first; `workspaceId` (or the workspace inside `postId`) narrows it, refused (403 WORKSPACE_FORBIDDEN) if the credential does not reach it.",
        hints: READ,
    },
    Tool {
        name: "comments.create",
        method: "POST",
        path: "/posts/{postId}/comments",
        workspace: "Workspace: derived from `postId`; refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: CREATE,
    },
    Tool {
        name: "media.list",
        method: "GET",
        path: "/media",
        workspace: EXPLICIT,
        hints: READ,
    },
    Tool {
        name: "media.get",
        method: "GET",
        path: "/media/{mediaId}",
        workspace: "Workspace: derived from `mediaId` (a media id names its workspace); refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: READ,
    },
    Tool {
        name: "media.presign",
        method: "POST",
        path: "/media/presign",
        workspace: EXPLICIT,
        hints: CREATE,
    },
    Tool {
        name: "media.ingestFromUrl",
        method: "POST",
        path: "/media/from-url",
        workspace: EXPLICIT,
        hints: Hints {
            open_world: true,
            ..CREATE
        },
    },
    Tool {
        name: "media.move",
        method: "POST",
        path: "/media/{mediaId}/move",
        workspace: "Workspace: derived from `mediaId`; the folder must be of the same workspace. Refused (403 WORKSPACE_FORBIDDEN) before any storage read if the credential does not reach it.",
        hints: SET,
    },
];
