// The model catalog from GET /api/models: the picker's options, grouped by provider, and
// whether a model is the offline demo.

/** @import { Model, ModelList } from "./api-types.js" */

export class Catalog {
  /** @param {ModelList} [list] */
  constructor({ default: defaultModel = "demo", models = [] } = {}) {
    this.defaultModel = defaultModel;
    this.models = models;
  }

  /** @param {string | null | undefined} id @returns {Model | null} */
  find(id) {
    return this.models.find((m) => m.id === id) || null;
  }

  /** @param {string | null | undefined} id */
  isDemo(id) {
    return this.find(id || this.defaultModel)?.provider === "demo";
  }

  /** A model that exists: `id` if known, else the default. @param {string | null | undefined} id @returns {string} */
  pick(id) {
    return id && this.find(id) ? id : this.defaultModel;
  }
}

/**
 * @param {HTMLSelectElement} select
 * @param {Catalog} catalog
 * @param {string | null | undefined} selected
 */
export function fillModelSelect(select, catalog, selected) {
  /** @type {Map<string, Model[]>} */
  const groups = new Map();
  for (const model of catalog.models) {
    if (!groups.has(model.provider)) groups.set(model.provider, []);
    /** @type {Model[]} */ (groups.get(model.provider)).push(model);
  }
  const children = [];
  for (const [provider, models] of groups) {
    const group = document.createElement("optgroup");
    group.label = provider;
    for (const model of models) {
      const option = document.createElement("option");
      option.value = model.id;
      option.textContent = model.id;
      group.append(option);
    }
    children.push(group);
  }
  select.replaceChildren(...children);
  select.value = catalog.pick(selected);
}
