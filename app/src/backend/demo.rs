//! Sample contacts for trying Muster out: `muster demo --contacts N`.

use crate::backend::db::entities::contact;
use crate::backend::directory::{self, bulk};
use crate::backend::domain::{Email, Label, Name, OrgId, PhoneE164, ValidContact};
use crate::model::AppError;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QuerySelect};

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Aisha",
    "Mohammed",
    "Priya",
    "Wei",
    "Yuki",
    "Sofia",
    "Mateo",
    "Olga",
    "Kwame",
    "Chloé",
    "Søren",
    "Zoë",
    "Amara",
    "Luca",
    "Ingrid",
    "Hiroshi",
    "Fatima",
    "Diego",
    "Noor",
    "Tomás",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Okafor",
    "Patel",
    "Kowalski",
    "Müller",
    "O'Brien",
    "Tanaka",
    "Andersson",
    "Rossi",
    "Dubois",
    "Novak",
    "Haddad",
    "Kim",
    "Silva",
    "Ivanova",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Human Resources",
    "Operations",
    "Customer Support",
    "Legal",
    "Facilities",
    "IT",
    "Security",
    "Product",
];
const ROLES: &[&str] = &[
    "Software Engineer",
    "Senior Software Engineer",
    "Engineering Manager",
    "Account Executive",
    "Sales Manager",
    "Marketing Specialist",
    "Accountant",
    "Financial Analyst",
    "HR Partner",
    "Recruiter",
    "Operations Manager",
    "Support Agent",
    "Support Lead",
    "Counsel",
    "Facilities Coordinator",
    "IT Administrator",
    "Security Analyst",
    "Product Manager",
    "Designer",
    "Director",
    "Vice President",
    "Site Lead",
    "Shift Supervisor",
    "Technician",
    "Analyst",
];
const LOCATIONS: &[&str] = &[
    "London",
    "Manchester",
    "Edinburgh",
    "Dublin",
    "New York",
    "Chicago",
    "San Francisco",
    "Austin",
    "Toronto",
    "Berlin",
    "Paris",
    "Amsterdam",
    "Singapore",
    "Sydney",
    "Remote",
];
const GROUPS: &[&str] = &[
    "Engineering Team",
    "US-Based Employees",
    "UK-Based Employees",
    "EMEA Staff",
    "APAC Staff",
    "On-call Responders",
    "Incident Commanders",
    "Fire Wardens",
    "First Aiders",
    "Leadership",
    "Night Shift",
    "Weekend Cover",
    "Building A",
    "Building B",
    "Data Center Team",
    "Crisis Team",
    "Remote Workers",
    "New Starters",
    "Contractors",
    "All Managers",
];

/// A generated contact: a valid contact plus the index of its groups.
pub fn sample(rng: &mut SmallRng, n: u64) -> ValidContact {
    let first = FIRST[rng.random_range(0..FIRST.len())];
    let last = LAST[rng.random_range(0..LAST.len())];
    let location = LOCATIONS[rng.random_range(0..LOCATIONS.len())];
    let email = format!(
        "{}.{}{}@example.com",
        ascii_lower(first),
        ascii_lower(last),
        n
    );
    // UK mobile numbers 071 to 073 with any eight further digits are valid in
    // libphonenumber's metadata (07400 to 07999 are not all); 9 in 10 contacts have one.
    let phone = (rng.random_range(0..10) < 9).then(|| {
        format!(
            "+447{}{:08}",
            rng.random_range(1..4),
            rng.random_range(0..100_000_000)
        )
    });
    let mut groups = vec![GROUPS[rng.random_range(0..GROUPS.len())].to_string()];
    if rng.random_range(0..3) == 0 {
        let g = GROUPS[rng.random_range(0..GROUPS.len())].to_string();
        if g != groups[0] {
            groups.push(g);
        }
    }
    let name = |s: &str| Name::parse(s).expect("sample names are valid");
    let text = |s: &str| Label::parse(s).expect("sample labels are valid");
    ValidContact {
        first_name: name(first),
        last_name: name(last),
        email: Email::parse(&email).ok(),
        phone: phone.and_then(|p| PhoneE164::parse(&p, "GB").ok()),
        department: text(DEPARTMENTS[rng.random_range(0..DEPARTMENTS.len())]),
        role: text(ROLES[rng.random_range(0..ROLES.len())]),
        location: text(location),
        groups: groups.iter().filter_map(|g| text(g)).collect(),
    }
}

fn ascii_lower(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Add `count` sample contacts to the organisation, in large transactions.
/// Returns how many were inserted. Emails are unique per run via a numeric suffix
/// that starts after the organisation's current largest contact id.
pub async fn seed(
    db: &DatabaseConnection,
    org: OrgId,
    count: u64,
    mut progress: impl FnMut(u64),
) -> Result<u64, AppError> {
    let offset: Option<i64> = contact::Entity::find()
        .select_only()
        .column_as(contact::Column::Id.max(), "max")
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    let offset = offset.unwrap_or(0) as u64;
    let mut rng = SmallRng::seed_from_u64(offset ^ 0x6d75_7374);
    let mut groups = bulk::GroupIds::new(org, "Demo");
    let batch = 2000u64;
    let per_tx = 50_000u64;
    let mut done = 0u64;
    while done < count {
        let tx = crate::backend::db::begin_write(db).await?;
        let tx_end = (done + per_tx).min(count);
        while done < tx_end {
            let n = batch.min(tx_end - done);
            let contacts: Vec<ValidContact> = (0..n)
                .map(|i| sample(&mut rng, offset + done + i + 1))
                .collect();
            let contacts: Vec<&ValidContact> = contacts.iter().collect();
            bulk::insert_many(&tx, org, &contacts, "Demo", &mut groups, None, false).await?;
            // Every one of them searchable when the seed ends, on either database.
            directory::place_all(&tx, org).await?;
            done += n;
        }
        tx.commit().await?;
        progress(done);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_valid_contacts() {
        let mut rng = SmallRng::seed_from_u64(1);
        for n in 0..2000 {
            let c = sample(&mut rng, n);
            assert!(c.email.is_some(), "email for sample {n}");
            assert!(!c.groups.is_empty());
        }
        let with_phone = (0..1000)
            .filter(|n| sample(&mut rng, *n).phone.is_some())
            .count();
        assert!(
            with_phone > 850,
            "only {with_phone} of 1000 samples had a valid phone"
        );
    }
}
