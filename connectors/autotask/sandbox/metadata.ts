import type { Store } from './db.ts';
import { ENTITY_FIELDS, type EntityName } from './fields.ts';
import { CAPABILITIES, SPECS } from './specs.ts';
import type { Kind, Specs } from './validate.ts';

const DATA_TYPE: Record<Kind, string> = {
  int: 'integer',
  num: 'double',
  str: 'string',
  bool: 'boolean',
  day: 'datetime',
  flag: 'integer',
};

/** GET {Entity}/entityInformation */
export function entityInfo(entity: EntityName): Record<string, unknown> {
  return {
    name: entity,
    ...CAPABILITIES[entity],
    hasUserDefinedFields: (ENTITY_FIELDS[entity] as readonly string[]).includes('userDefinedFields'),
    supportsWebhookCallouts: false,
  };
}

/**
 * GET {Entity}/entityInformation/fields: names, types, required/read-only flags and the picklists of this
 * sandbox (the store's, which a test may have replaced).
 */
export function entityFields(entity: EntityName, store?: Store): Record<string, unknown>[] {
  const specs: Specs = (SPECS as Partial<Record<EntityName, Specs>>)[entity] ?? {};
  const lists = store?.picklists[entity] ?? {};
  return (ENTITY_FIELDS[entity] as readonly string[])
    .filter((f) => f !== 'userDefinedFields')
    .map((name) => {
      const spec = specs[name];
      return {
        name,
        dataType: name === 'id' ? 'long' : spec ? DATA_TYPE[spec.kind] : 'string',
        length: spec?.max ?? 0,
        isRequired: name === 'id' || spec?.required === true,
        isReadOnly: name === 'id' || !spec,
        isQueryable: true,
        isReference: name !== 'id' && name.endsWith('ID'),
        isPickList: name in lists,
        picklistValues:
          lists[name]?.map((v) => ({
            value: String(v.value),
            label: v.label,
            isDefaultValue: v.isDefaultValue ?? false,
            sortOrder: 0,
            parentValue: '',
            isActive: v.isActive ?? true,
            isSystem: true,
          })) ?? null,
      };
    });
}

/** GET {Entity}/entityInformation/userDefinedFields: the UDF labels in use (only Companies carry values here). */
export function udfDefinitions(entity: EntityName, store: Store): Record<string, unknown>[] {
  if (entity !== 'Companies') return [];
  const names = new Set<string>();
  for (const c of store.db.companies.values()) {
    for (const u of (c.userDefinedFields ?? []) as { name: string }[]) names.add(u.name);
  }
  return [...names].map((name) => ({
    name,
    dataType: 'string',
    isRequired: false,
    isReadOnly: false,
    isQueryable: true,
  }));
}
