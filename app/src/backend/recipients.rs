//! Recipients: what a selection of groups, rules and contacts comes to, now.
//! Each person is reached once, for the first part of the selection that
//! reaches them (groups, then rules, then people picked by name); deactivated
//! contacts are never reached. Every statement is scoped to the organisation.

use crate::backend::db::entities::{
    contact, contact_group, group_member, integration, scim_source,
};
use crate::backend::domain::OrgId;
use crate::model::{
    AppError, PickedContact, Provider, Reach, ReachFilter, RecipientGroup, RecipientPage,
    RecipientRow, Recipients, Rule,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait, Select,
};
use std::collections::{HashMap, HashSet};

/// Why a person is a recipient: the first part of the selection that
/// reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A member of this group.
    Group(i64),
    /// Selected by the rule at this index of the selection.
    Rule(usize),
    /// Picked by name.
    Picked,
}

/// A recipient, and on which channels they can be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    pub contact_id: i64,
    pub has_email: bool,
    pub has_phone: bool,
    pub reason: Reason,
}

/// A selection resolved: its recipients in the order they were reached, and
/// the groups it names that no longer exist.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub recipients: Vec<Recipient>,
    pub missing_groups: Vec<i64>,
}

impl Resolution {
    pub fn reach(&self) -> Reach {
        Reach {
            people: self.recipients.len() as u64,
            without_email: self.recipients.iter().filter(|r| !r.has_email).count() as u64,
            without_phone: self.recipients.iter().filter(|r| !r.has_phone).count() as u64,
            missing_groups: self.missing_groups.clone(),
        }
    }
}

#[derive(FromQueryResult)]
struct Reached {
    id: i64,
    has_email: bool,
    has_phone: bool,
}

/// The organisation's active contacts, as [`Reached`] rows.
fn reachable(org: OrgId) -> Select<contact::Entity> {
    contact::Entity::find()
        .select_only()
        .column(contact::Column::Id)
        .column_as(contact::Column::Email.is_not_null(), "has_email")
        .column_as(contact::Column::Phone.is_not_null(), "has_phone")
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::Active.eq(true))
}

fn rule_select(org: OrgId, rule: &Rule) -> Select<contact::Entity> {
    let mut select = reachable(org);
    for (field, value) in rule.conditions() {
        let column = match field {
            "department" => contact::Column::Department,
            "role" => contact::Column::Role,
            "location" => contact::Column::Location,
            _ => contact::Column::Source,
        };
        select = select.filter(column.eq(value.trim()));
    }
    select
}

/// Resolve `selection` for `org` against the directory as it is now.
pub async fn resolve(
    db: &impl ConnectionTrait,
    org: OrgId,
    selection: &Recipients,
) -> Result<Resolution, AppError> {
    selection.check()?;
    let mut out = Resolution::default();
    let mut seen: HashSet<i64> = HashSet::new();
    let mut take = |rows: Vec<Reached>, reason: Reason, out: &mut Resolution| {
        for r in rows {
            if seen.insert(r.id) {
                out.recipients.push(Recipient {
                    contact_id: r.id,
                    has_email: r.has_email,
                    has_phone: r.has_phone,
                    reason,
                });
            }
        }
    };

    let wanted: Vec<i64> = unique(&selection.groups);
    let known: HashSet<i64> = if wanted.is_empty() {
        HashSet::new()
    } else {
        contact_group::Entity::find()
            .select_only()
            .column(contact_group::Column::Id)
            .filter(contact_group::Column::OrgId.eq(org.get()))
            .filter(contact_group::Column::Id.is_in(wanted.iter().copied()))
            .into_tuple::<i64>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    for group in wanted {
        if !known.contains(&group) {
            out.missing_groups.push(group);
            continue;
        }
        let members = Query::select()
            .column(group_member::Column::ContactId)
            .from(group_member::Entity)
            .and_where(group_member::Column::GroupId.eq(group))
            .to_owned();
        let rows = reachable(org)
            .filter(contact::Column::Id.in_subquery(members))
            .order_by_asc(contact::Column::Id)
            .into_model::<Reached>()
            .all(db)
            .await?;
        take(rows, Reason::Group(group), &mut out);
    }
    for (i, rule) in selection.rules.iter().enumerate() {
        let rows = rule_select(org, rule)
            .order_by_asc(contact::Column::Id)
            .into_model::<Reached>()
            .all(db)
            .await?;
        take(rows, Reason::Rule(i), &mut out);
    }
    let picked = unique(&selection.contacts);
    for chunk in picked.chunks(500) {
        let rows = reachable(org)
            .filter(contact::Column::Id.is_in(chunk.iter().copied()))
            .into_model::<Reached>()
            .all(db)
            .await?;
        // In the order they were picked.
        let mut by_id: HashMap<i64, Reached> = rows.into_iter().map(|r| (r.id, r)).collect();
        let rows = chunk.iter().filter_map(|id| by_id.remove(id)).collect();
        take(rows, Reason::Picked, &mut out);
    }
    Ok(out)
}

/// One page (from `offset`) of the people `selection` reaches now that
/// `filter` lists, in the order reached, each with why.
pub async fn people(
    db: &impl ConnectionTrait,
    org: OrgId,
    selection: &Recipients,
    filter: ReachFilter,
    offset: usize,
) -> Result<RecipientPage, AppError> {
    let resolution = resolve(db, org, selection).await?;
    let listed: Vec<&Recipient> = resolution
        .recipients
        .iter()
        .filter(|r| match filter {
            ReachFilter::All => true,
            ReachFilter::WithoutEmail => !r.has_email,
            ReachFilter::WithoutPhone => !r.has_phone,
        })
        .collect();
    let page: Vec<&Recipient> = listed
        .iter()
        .skip(offset)
        .take(RecipientPage::PAGE_SIZE)
        .copied()
        .collect();
    let ids: Vec<i64> = page.iter().map(|r| r.contact_id).collect();
    let mut contacts: HashMap<i64, contact::Model> = contact::Entity::find()
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let group_names = group_names(db, org, page.iter().map(|r| r.reason)).await?;
    let rows = page
        .iter()
        .filter_map(|r| {
            let c = contacts.remove(&r.contact_id)?;
            let why = why(r.reason, &group_names, selection);
            Some(RecipientRow {
                contact_id: c.id,
                name: format!("{} {}", c.first_name, c.last_name),
                email: c.email,
                phone: c.phone,
                why,
            })
        })
        .collect();
    Ok(RecipientPage {
        rows,
        total: listed.len() as u64,
    })
}

/// The names of the groups that `reasons` name.
pub async fn group_names(
    db: &impl ConnectionTrait,
    org: OrgId,
    reasons: impl Iterator<Item = Reason>,
) -> Result<HashMap<i64, String>, AppError> {
    let ids: HashSet<i64> = reasons
        .filter_map(|r| match r {
            Reason::Group(id) => Some(id),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(contact_group::Entity::find()
        .select_only()
        .column(contact_group::Column::Id)
        .column(contact_group::Column::Name)
        .filter(contact_group::Column::OrgId.eq(org.get()))
        .filter(contact_group::Column::Id.is_in(ids))
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Why a person is reached, in words: "Group On call", "Rule: Department
/// is Engineering", "Picked by name".
pub fn why(reason: Reason, group_names: &HashMap<i64, String>, selection: &Recipients) -> String {
    match reason {
        Reason::Group(id) => format!(
            "Group {}",
            group_names.get(&id).map_or("(removed)", String::as_str)
        ),
        Reason::Rule(i) => match selection.rules.get(i) {
            Some(rule) => format!("Rule: {}", rule.describe()),
            None => "Rule".to_string(),
        },
        Reason::Picked => "Picked by name".to_string(),
    }
}

/// `ids` without repeats, in their first order.
fn unique(ids: &[i64]) -> Vec<i64> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// Every group of the organisation, as the selector offers them: its own
/// first, then each source's, by name; with their active members.
pub async fn groups(
    db: &impl ConnectionTrait,
    org: OrgId,
) -> Result<Vec<RecipientGroup>, AppError> {
    let groups = contact_group::Entity::find()
        .filter(contact_group::Column::OrgId.eq(org.get()))
        .all(db)
        .await?;
    let members: HashMap<i64, i64> = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupId)
        .column_as(
            Expr::col(group_member::Column::ContactId).count(),
            "members",
        )
        .join(JoinType::InnerJoin, group_member::Relation::Contact.def())
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::Active.eq(true))
        .group_by(group_member::Column::GroupId)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut out: Vec<RecipientGroup> = groups
        .into_iter()
        .map(|g| {
            let own = g.integration_id.is_none() && g.scim_source_id.is_none();
            RecipientGroup {
                id: g.id,
                members: u64::try_from(members.get(&g.id).copied().unwrap_or(0)).unwrap_or(0),
                name: g.name,
                source: if own { String::new() } else { g.source },
            }
        })
        .collect();
    out.sort_by_cached_key(|g| {
        (
            !g.source.is_empty(),
            g.source.to_lowercase(),
            g.name.to_lowercase(),
        )
    });
    Ok(out)
}

/// The Sources a rule can select by: contacts added in Muster, by upload,
/// each connected integration's and each identity provider's.
pub async fn sources(db: &impl ConnectionTrait, org: OrgId) -> Result<Vec<String>, AppError> {
    let mut out = vec![
        crate::backend::directory::SOURCE_MANUAL.to_string(),
        crate::backend::import::apply::SOURCE_CSV.to_string(),
    ];
    let providers = integration::Entity::find()
        .select_only()
        .column(integration::Column::Provider)
        .filter(integration::Column::OrgId.eq(org.get()))
        .into_tuple::<String>()
        .all(db)
        .await?;
    out.extend(
        providers
            .iter()
            .filter_map(|p| Provider::parse(p))
            .map(|p| p.label().to_string()),
    );
    let mut scim = scim_source::Entity::find()
        .select_only()
        .column(scim_source::Column::Name)
        .filter(scim_source::Column::OrgId.eq(org.get()))
        .into_tuple::<String>()
        .all(db)
        .await?;
    scim.sort_by_key(|s| s.to_lowercase());
    out.extend(scim);
    let mut seen = HashSet::new();
    out.retain(|s| seen.insert(s.to_lowercase()));
    Ok(out)
}

/// The contacts of `ids` that are the organisation's, as the selector shows
/// the people picked by name (in the order given).
pub async fn picked(
    db: &impl ConnectionTrait,
    org: OrgId,
    ids: &[i64],
) -> Result<Vec<PickedContact>, AppError> {
    let ids = unique(ids);
    let mut by_id: HashMap<i64, contact::Model> = HashMap::new();
    for chunk in ids.chunks(500) {
        by_id.extend(
            contact::Entity::find()
                .filter(contact::Column::OrgId.eq(org.get()))
                .filter(contact::Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c)),
        );
    }
    Ok(ids
        .iter()
        .filter_map(|id| by_id.remove(id))
        .map(|c| PickedContact {
            id: c.id,
            name: format!("{} {}", c.first_name, c.last_name),
            email: c.email,
            active: c.active,
        })
        .collect())
}
