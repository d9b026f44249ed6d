//! One way to declare a fieldless enum stored (and sent) by name: the variants and their
//! names are written once, side by side, and `ALL`, `as_str` and `parse` follow from them, so
//! the name a value is written as and the name it is read back from cannot drift apart.

/// Declares `enum $name { $variant, … }` with:
/// - `ALL`: every variant, in declaration order;
/// - `as_str(self) -> &'static str`: the stored name written beside the variant;
/// - `parse(&str) -> Option<Self>`: the variant with that exact name, `None` for any other.
///
/// Attributes (derives, serde renames, docs) are passed through to the enum and variants.
macro_rules! enum_with_stored_names {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $stored:literal, )+
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// The stored and wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $stored, )+
                }
            }

            /// Parses the stored and wire name; `None` for any other text.
            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.into_iter().find(|value| value.as_str() == text)
            }
        }
    };
}

pub(crate) use enum_with_stored_names;

#[cfg(test)]
mod tests {
    enum_with_stored_names! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Colour {
            Red => "red",
            DarkBlue => "dark_blue",
        }
    }

    #[test]
    fn every_variant_parses_back_from_its_stored_name() {
        for colour in Colour::ALL {
            assert_eq!(Colour::parse(colour.as_str()), Some(colour), "{colour:?}");
        }
        assert_eq!(Colour::DarkBlue.as_str(), "dark_blue");
    }

    #[test]
    fn an_unknown_or_differently_cased_name_is_none() {
        for text in ["", "green", "Red", "dark-blue"] {
            assert_eq!(Colour::parse(text), None, "{text:?}");
        }
    }
}
