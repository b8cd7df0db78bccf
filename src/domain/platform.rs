//! Social platforms an account can be registered for, and account statuses.

use super::DomainError;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            pub fn parse(s: &str) -> Result<Self, DomainError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or(DomainError::new(
                    concat!("must be one of ", $($wire, " "),+),
                ))
            }
        }
    };
}

wire_enum!(
    /// A social network (or one kind of presence on it).
    Platform {
        Instagram = "INSTAGRAM",
        FacebookPage = "FACEBOOK_PAGE",
        X = "X",
        LinkedinPerson = "LINKEDIN_PERSON",
        LinkedinCompany = "LINKEDIN_COMPANY",
        TiktokBusiness = "TIKTOK_BUSINESS",
        TiktokPersonal = "TIKTOK_PERSONAL",
        Youtube = "YOUTUBE",
        Pinterest = "PINTEREST",
        Threads = "THREADS",
        Bluesky = "BLUESKY",
        Mastodon = "MASTODON",
    }
);

wire_enum!(
    /// Whether an account can publish.
    AccountStatus {
        Active = "ACTIVE",
        TokenExpired = "TOKEN_EXPIRED",
        Revoked = "REVOKED",
        Disconnected = "DISCONNECTED",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_round_trip_and_refuse_unknown_names() {
        assert_eq!(Platform::ALL.len(), 12);
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()).unwrap(), *p);
        }
        for bad in ["instagram", "TWITTER", ""] {
            let e = Platform::parse(bad).unwrap_err();
            assert!(e.0.starts_with("must be one of INSTAGRAM"));
        }
        assert_eq!(
            AccountStatus::parse("DISCONNECTED").unwrap(),
            AccountStatus::Disconnected
        );
    }
}
