//! Which column of an uploaded file holds which contact field, from its header,
//! and turning a row into a contact draft.

use super::sniff::Unusable;
use crate::model::ContactDraft;

/// A contact field that a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    FirstName,
    LastName,
    Email,
    Phone,
    Department,
    Role,
    Location,
    Groups,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::Department,
        Field::Role,
        Field::Location,
        Field::Groups,
    ];

    /// The header Muster writes for this field on export, and shows in the mapping.
    pub fn header(self) -> &'static str {
        match self {
            Field::FirstName => "First Name",
            Field::LastName => "Last Name",
            Field::Email => "Email",
            Field::Phone => "Mobile Phone",
            Field::Department => "Department",
            Field::Role => "Role",
            Field::Location => "Location",
            Field::Groups => "Groups",
        }
    }

    /// The key that names this field in validation errors and in the browser.
    pub fn key(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Department => "department",
            Field::Role => "role",
            Field::Location => "location",
            Field::Groups => "groups",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }

    /// Headers that mean this field, normalised (see [`normalise`]).
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Field::FirstName => &[
                "firstname",
                "first",
                "givenname",
                "forename",
                "fname",
                "preferredname",
                "preferredfirstname",
            ],
            Field::LastName => &["lastname", "last", "surname", "familyname", "lname"],
            Field::Email => &[
                "email",
                "emailaddress",
                "mail",
                "workemail",
                "workemailaddress",
                "businessemail",
                "primaryemail",
            ],
            Field::Phone => &[
                "mobile",
                "mobilephone",
                "mobilenumber",
                "mobilephonenumber",
                "mobileno",
                "cell",
                "cellphone",
                "cellnumber",
                "cellular",
                "phone",
                "phonenumber",
                "telephone",
                "sms",
            ],
            Field::Department => &["department", "dept", "departmentname", "division", "team"],
            Field::Role => &[
                "role",
                "jobtitle",
                "title",
                "job",
                "position",
                "businesstitle",
            ],
            Field::Location => &[
                "location",
                "office",
                "site",
                "officelocation",
                "worklocation",
                "city",
                "workplace",
            ],
            Field::Groups => &["groups", "group", "groupname", "groupnames"],
        }
    }
}

/// A header, compared without case, spaces, punctuation or accents on ASCII:
/// "First Name", "first_name" and "FIRST-NAME" are all `firstname`.
pub fn normalise(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The field a header names, if any.
pub fn field_for(header: &str) -> Option<Field> {
    let h = normalise(header);
    Field::ALL
        .into_iter()
        .find(|f| f.synonyms().contains(&h.as_str()))
}

/// For each column of the file, the field it fills (`None`: ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub headers: Vec<String>,
    pub fields: Vec<Option<Field>>,
}

impl Mapping {
    /// The mapping detected from a header row, which must be able to make contacts.
    pub fn detect(headers: &[String]) -> Result<Self, Unusable> {
        let mapping = Self::guess(headers)?;
        mapping.check()?;
        Ok(mapping)
    }

    /// The mapping a header row suggests, which the user may correct. A field
    /// named by two columns takes the first; the second is ignored.
    pub fn guess(headers: &[String]) -> Result<Self, Unusable> {
        if headers.iter().all(|h| h.trim().is_empty()) {
            return Err(Unusable::NoHeader);
        }
        let mut fields: Vec<Option<Field>> = Vec::with_capacity(headers.len());
        for h in headers {
            let f = field_for(h).filter(|f| !fields.contains(&Some(*f)));
            fields.push(f);
        }
        Ok(Self {
            headers: headers.to_vec(),
            fields,
        })
    }

    /// The user's choice of field for each column, by key (`first_name`, ...;
    /// empty to ignore a column). A field may fill only one column.
    pub fn with_fields(&self, keys: &[String]) -> Result<Self, String> {
        if keys.len() != self.headers.len() {
            return Err(format!(
                "The file has {} columns, but {} were mapped.",
                self.headers.len(),
                keys.len()
            ));
        }
        let mut fields: Vec<Option<Field>> = Vec::with_capacity(keys.len());
        for (key, header) in keys.iter().zip(&self.headers) {
            let field = match key.as_str() {
                "" => None,
                k => Some(Field::from_key(k).ok_or_else(|| format!("There is no field {k:?}."))?),
            };
            if let Some(f) = field.filter(|f| fields.contains(&Some(*f))) {
                return Err(format!(
                    "{} is chosen for two columns; \"{header}\" must fill another field or be ignored.",
                    f.header()
                ));
            }
            fields.push(field);
        }
        Ok(Self {
            headers: self.headers.clone(),
            fields,
        })
    }

    /// Whether this mapping can make contacts: names, and email or phone.
    pub fn check(&self) -> Result<(), Unusable> {
        let has = |f: Field| self.fields.contains(&Some(f));
        if !has(Field::FirstName) {
            return Err(Unusable::NoFirstName);
        }
        if !has(Field::LastName) {
            return Err(Unusable::NoLastName);
        }
        if !has(Field::Email) && !has(Field::Phone) {
            return Err(Unusable::NoEmailOrPhone);
        }
        Ok(())
    }

    /// Headers of the columns that are ignored, to list to the user.
    pub fn ignored(&self) -> Vec<&str> {
        self.headers
            .iter()
            .zip(&self.fields)
            .filter(|(_, f)| f.is_none())
            .map(|(h, _)| h.as_str())
            .collect()
    }

    /// The file's header for a contact field named as validation names it
    /// (`first_name`, `email`, ...), if a column fills it.
    pub fn header_of(&self, field: &str) -> Option<String> {
        let field = Field::from_key(field)?;
        let i = self.fields.iter().position(|f| *f == Some(field))?;
        Some(self.headers[i].clone())
    }

    /// A contact draft from one row: cells trimmed and unescaped (see
    /// [`super::cells`]), groups split on `;`.
    /// Missing cells are blank.
    pub fn draft(&self, row: &csv::StringRecord) -> ContactDraft {
        let mut d = ContactDraft::default();
        for (i, field) in self.fields.iter().enumerate() {
            let (Some(field), Some(cell)) = (field, row.get(i)) else {
                continue;
            };
            let cell = super::cells::unescape(cell.trim()).to_string();
            match field {
                Field::FirstName => d.first_name = cell,
                Field::LastName => d.last_name = cell,
                Field::Email => d.email = cell,
                Field::Phone => d.phone = cell,
                Field::Department => d.department = cell,
                Field::Role => d.role = cell,
                Field::Location => d.location = cell,
                Field::Groups => {
                    d.groups = cell
                        .split(';')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect()
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn headers_match_their_synonyms_whatever_the_spelling() {
        for (header, field) in [
            ("First Name", Field::FirstName),
            ("first_name", Field::FirstName),
            ("Given name", Field::FirstName),
            ("SURNAME", Field::LastName),
            ("E-mail", Field::Email),
            ("Email Address", Field::Email),
            ("Mobile", Field::Phone),
            ("Mobile Phone", Field::Phone),
            ("Cell", Field::Phone),
            ("Job Title", Field::Role),
            ("Role", Field::Role),
            ("Office", Field::Location),
            ("Site", Field::Location),
            ("Group", Field::Groups),
            ("Groups", Field::Groups),
            ("  Dept. ", Field::Department),
        ] {
            assert_eq!(field_for(header), Some(field), "{header}");
        }
        assert_eq!(field_for("Employee ID"), None);
        assert_eq!(field_for(""), None);
    }

    #[test]
    fn a_mapping_needs_names_and_a_way_to_reach_people() {
        let m = Mapping::detect(&headers(&[
            "Given Name",
            "Surname",
            "Cell",
            "Employee ID",
            "Mobile",
        ]))
        .unwrap();
        assert_eq!(
            m.fields,
            vec![
                Some(Field::FirstName),
                Some(Field::LastName),
                Some(Field::Phone),
                None,
                None
            ]
        );
        assert_eq!(m.ignored(), vec!["Employee ID", "Mobile"]);
        assert_eq!(
            Mapping::detect(&headers(&["Surname", "Email"])),
            Err(Unusable::NoFirstName)
        );
        assert_eq!(
            Mapping::detect(&headers(&["First", "Email"])),
            Err(Unusable::NoLastName)
        );
        assert_eq!(
            Mapping::detect(&headers(&["First", "Last", "Office"])),
            Err(Unusable::NoEmailOrPhone)
        );
        assert_eq!(
            Mapping::detect(&headers(&["", " "])),
            Err(Unusable::NoHeader)
        );
    }

    #[test]
    fn rows_become_drafts_with_groups_split_and_cells_trimmed() {
        let m = Mapping::detect(&headers(&["First Name", "Last Name", "Email", "Groups"])).unwrap();
        let row = csv::StringRecord::from(vec![
            " Ada ",
            "Lovelace",
            "ada@example.com",
            "Ops; On call;;",
        ]);
        let d = m.draft(&row);
        assert_eq!(d.first_name, "Ada");
        assert_eq!(d.groups, vec!["Ops", "On call"]);
        // Cells escaped on export read back as they were.
        let d = m.draft(&csv::StringRecord::from(vec![
            "Ada",
            "'-Lovelace",
            "'=x@example.com",
        ]));
        assert_eq!(
            (d.last_name.as_str(), d.email.as_str()),
            ("-Lovelace", "=x@example.com")
        );
        // A short row leaves the missing cells blank.
        let d = m.draft(&csv::StringRecord::from(vec!["Grace"]));
        assert_eq!((d.first_name.as_str(), d.last_name.as_str()), ("Grace", ""));
    }

    #[test]
    fn the_browser_offers_the_same_fields_in_the_same_order() {
        let server: Vec<(&str, &str)> = Field::ALL.iter().map(|f| (f.key(), f.header())).collect();
        assert_eq!(server, crate::model::IMPORT_FIELDS.to_vec());
        for f in Field::ALL {
            assert_eq!(Field::from_key(f.key()), Some(f));
        }
    }
}
