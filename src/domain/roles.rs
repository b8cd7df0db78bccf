//! Workspace roles and what each may do (API.md §7), as one exhaustive table.

use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Owner,
    Admin,
    Editor,
    Member,
    ClientReviewer,
}

/// Something a request does inside one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the workspace, its posts, accounts, media, comments and members.
    Read,
    /// Comment on posts; reply to or mark comments read.
    Comment,
    /// Create, edit, schedule, cancel, retry, delete posts; media; folders.
    WriteContent,
    /// Approve or request changes on a post awaiting approval.
    Review,
    /// Register or disconnect social accounts; edit workspace settings.
    ManageWorkspace,
    /// Invite, remove or re-role members (session only).
    ManageMembers,
    /// Delete the workspace (session only).
    DeleteWorkspace,
    /// Register, read, change, test and delete webhook endpoints (session only: "keys cannot
    /// hit webhook endpoints").
    ManageWebhooks,
}

impl Action {
    /// Actions an API key may never take, whatever its owner's role.
    pub fn needs_session(self) -> bool {
        match self {
            Action::ManageMembers | Action::DeleteWorkspace | Action::ManageWebhooks => true,
            Action::Read
            | Action::Comment
            | Action::WriteContent
            | Action::Review
            | Action::ManageWorkspace => false,
        }
    }
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Editor,
        Role::Member,
        Role::ClientReviewer,
    ];

    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        use Role::*;
        match action {
            Read | Comment => true,
            WriteContent => matches!(self, Owner | Admin | Editor),
            Review => matches!(self, Owner | Admin | ClientReviewer),
            ManageWorkspace | ManageMembers | ManageWebhooks => matches!(self, Owner | Admin),
            DeleteWorkspace => matches!(self, Owner),
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(DomainError::new(
                "must be one of OWNER, ADMIN, EDITOR, MEMBER, CLIENT_REVIEWER",
            ))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "OWNER",
            Role::Admin => "ADMIN",
            Role::Editor => "EDITOR",
            Role::Member => "MEMBER",
            Role::ClientReviewer => "CLIENT_REVIEWER",
        }
    }

    /// Whether a member with this role may give `to` to someone, or change or remove
    /// someone who holds `to`: only an OWNER touches OWNER memberships.
    pub fn may_manage(self, to: Role) -> bool {
        self.allows(Action::ManageMembers) && (to != Role::Owner || self == Role::Owner)
    }
}

/// A change to one membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    SetRole(Role),
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefused {
    /// The actor's role does not allow it.
    Role,
    /// It would leave the workspace without an OWNER.
    LastOwner,
}

/// May a member with role `actor` make `change` to a membership currently `current`, in a
/// workspace with `owners` owners? `is_self`: the actor changes their own membership; anyone
/// may leave, nobody may leave a workspace ownerless.
pub fn check_membership_change(
    actor: Role,
    is_self: bool,
    current: Role,
    change: MembershipChange,
    owners: u32,
) -> Result<(), ChangeRefused> {
    let permitted = match change {
        MembershipChange::Remove => is_self || actor.may_manage(current),
        MembershipChange::SetRole(to) => actor.may_manage(current) && actor.may_manage(to),
    };
    if !permitted {
        return Err(ChangeRefused::Role);
    }
    let stops_owning = current == Role::Owner && change != MembershipChange::SetRole(Role::Owner);
    if stops_owning && owners <= 1 {
        return Err(ChangeRefused::LastOwner);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Role::*;

    #[test]
    fn the_role_table_matches_the_brief() {
        // Columns: OWNER, ADMIN, EDITOR, MEMBER, CLIENT_REVIEWER — as in API.md §7.
        let table: &[(Action, [bool; 5])] = &[
            (Read, [true, true, true, true, true]),
            (Comment, [true, true, true, true, true]),
            (WriteContent, [true, true, true, false, false]),
            (Review, [true, true, false, false, true]),
            (ManageWorkspace, [true, true, false, false, false]),
            (ManageMembers, [true, true, false, false, false]),
            (DeleteWorkspace, [true, false, false, false, false]),
            (ManageWebhooks, [true, true, false, false, false]),
        ];
        for (action, row) in table {
            for (role, expected) in Role::ALL.iter().zip(row) {
                assert_eq!(role.allows(*action), *expected, "{role:?} {action:?}");
            }
        }
    }

    #[test]
    fn only_members_workspace_deletion_and_webhooks_need_a_session() {
        let session_only: Vec<Action> = [
            Read,
            Comment,
            WriteContent,
            Review,
            ManageWorkspace,
            ManageMembers,
            DeleteWorkspace,
            ManageWebhooks,
        ]
        .into_iter()
        .filter(|a| a.needs_session())
        .collect();
        assert_eq!(
            session_only,
            vec![ManageMembers, DeleteWorkspace, ManageWebhooks]
        );
    }

    #[test]
    fn roles_parse_from_their_wire_names_only() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        for bad in ["owner", "", "SUPERUSER", "CLIENT-REVIEWER"] {
            assert!(Role::parse(bad).is_err());
        }
    }

    #[test]
    fn only_owners_touch_owner_memberships() {
        assert!(Owner.may_manage(Owner));
        assert!(Owner.may_manage(Editor));
        assert!(Admin.may_manage(Admin));
        assert!(Admin.may_manage(ClientReviewer));
        assert!(!Admin.may_manage(Owner));
        assert!(!Editor.may_manage(Member));
        assert!(!ClientReviewer.may_manage(Member));
    }

    #[test]
    fn membership_changes() {
        use MembershipChange::*;
        let ok = Ok(());
        let role = Err(ChangeRefused::Role);
        let last = Err(ChangeRefused::LastOwner);
        let cases = [
            // (actor, is_self, current, change, owners, expected)
            (Owner, false, Editor, SetRole(Admin), 1, ok),
            (Owner, false, Editor, SetRole(Owner), 1, ok),
            (Owner, true, Owner, SetRole(Admin), 1, last),
            (Owner, true, Owner, SetRole(Admin), 2, ok),
            (Owner, true, Owner, Remove, 1, last),
            (Owner, false, Owner, Remove, 2, ok),
            (Admin, false, Editor, SetRole(Member), 1, ok),
            (Admin, false, Member, SetRole(Owner), 1, role),
            (Admin, false, Owner, SetRole(Member), 2, role),
            (Admin, false, Owner, Remove, 2, role),
            (Admin, true, Admin, SetRole(Editor), 1, ok),
            (Editor, false, Member, Remove, 1, role),
            (Member, true, Member, Remove, 1, ok),
            (
                ClientReviewer,
                true,
                ClientReviewer,
                SetRole(Admin),
                1,
                role,
            ),
        ];
        for (actor, is_self, current, change, owners, expected) in cases {
            assert_eq!(
                check_membership_change(actor, is_self, current, change, owners),
                expected,
                "{actor:?} {is_self} {current:?} {change:?} {owners}"
            );
        }
    }
}
