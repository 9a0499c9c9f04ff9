//! A generated organisation: people with departments, titles, cities and
//! phone numbers, some suspended or deprovisioned, and groups by department
//! and by city plus a few cross-cutting ones.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Active,
    Suspended,
    Deprovisioned,
}

#[derive(Debug, Clone)]
pub struct FakePerson {
    /// Okta-style id (`00u...`), also used as the SCIM id.
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub mobile: Option<String>,
    pub department: String,
    pub title: String,
    pub city: String,
    pub status: Status,
}

#[derive(Debug, Clone)]
pub struct FakeGroup {
    pub id: String,
    pub name: String,
    /// Indexes into `FakeOrg::people`.
    pub members: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct FakeOrg {
    pub people: Vec<FakePerson>,
    pub groups: Vec<FakeGroup>,
}

const FIRST: &[&str] = &[
    "Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Sofia", "Leo", "Chloé",
    "Jürgen", "Zoë", "Mateo", "Aoife", "Priya", "Kenji", "Fatima", "Lars", "Ines",
];
const LAST: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Wright", "Müller", "García", "O'Brien", "Nakamura", "Kowalski", "Dubois", "Rossi", "Andersen",
    "Silva", "Haddad",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Finance",
    "Support",
    "Operations",
    "Marketing",
    "Legal",
    "Facilities",
];
const TITLES: &[&str] = &[
    "Engineer",
    "Account Executive",
    "Analyst",
    "Support Specialist",
    "Operations Manager",
    "Designer",
    "Counsel",
    "Technician",
    "Director",
];
/// City, and the prefix and count of random digits of a mobile number there.
const CITIES: &[(&str, &str, u32)] = &[
    ("London", "+447700", 6),
    ("Manchester", "+447911", 6),
    ("Berlin", "+49151", 8),
    ("Paris", "+336", 8),
    ("New York", "+1212", 7),
    ("Chicago", "+1312", 7),
    ("Sydney", "+6141", 7),
];

impl FakeOrg {
    /// `n` people (about 1 in 25 suspended and 1 in 50 deprovisioned), the
    /// same for the same `seed`.
    pub fn generate(n: usize, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut people = Vec::with_capacity(n);
        for i in 0..n {
            let first = FIRST[rng.random_range(0..FIRST.len())];
            let last = LAST[rng.random_range(0..LAST.len())];
            let (city, prefix, digits) = CITIES[rng.random_range(0..CITIES.len())];
            // The first digit after the prefix is never 0 or 1 (North American rules).
            let lead: u64 = rng.random_range(2..10);
            let rest: u64 = rng.random_range(0..10u64.pow(digits - 1));
            let mobile = (rng.random_range(0..10) != 0)
                .then(|| format!("{prefix}{lead}{rest:0width$}", width = digits as usize - 1));
            let status = match rng.random_range(0..100) {
                0..=3 => Status::Suspended,
                4..=5 => Status::Deprovisioned,
                _ => Status::Active,
            };
            let local: String = format!("{first}.{last}")
                .to_lowercase()
                .chars()
                .map(|c| match c {
                    'é' => 'e',
                    'ü' => 'u',
                    'ë' => 'e',
                    'í' => 'i',
                    c if c.is_ascii_alphanumeric() || c == '.' => c,
                    _ => '-',
                })
                .collect();
            people.push(FakePerson {
                id: format!("00u{:017}", i + 1),
                first_name: first.to_string(),
                last_name: last.to_string(),
                email: format!("{local}.{}@example.com", i + 1),
                mobile,
                department: DEPARTMENTS[rng.random_range(0..DEPARTMENTS.len())].to_string(),
                title: TITLES[rng.random_range(0..TITLES.len())].to_string(),
                city: city.to_string(),
                status,
            });
        }
        let mut groups = Vec::new();
        let mut add = |name: String, members: Vec<usize>| {
            let id = format!("00g{:017}", groups.len() + 1);
            groups.push(FakeGroup { id, name, members });
        };
        for d in DEPARTMENTS {
            let members = (0..n).filter(|i| people[*i].department == *d).collect();
            add(format!("{d} Team"), members);
        }
        for (c, _, _) in CITIES {
            let members = (0..n).filter(|i| people[*i].city == *c).collect();
            add(format!("{c} Office"), members);
        }
        add("On-call Responders".into(), (0..n).step_by(7).collect());
        Self { people, groups }
    }

    pub fn active(&self) -> usize {
        self.people
            .iter()
            .filter(|p| p.status == Status::Active)
            .count()
    }
}
