/**
 * Custom search attributes the workflows set so Temporal UI's list is useful. Provisioning
 * registers them on the dev server (`--search-attribute Name=Type`); on a real cluster an
 * operator registers them once (`temporal operator search-attribute create`).
 */
export const SEARCH_ATTRIBUTES = {
  SgcPhase: 'Keyword', // validation | canary | baseline | drift | gitop | maintenance | drill
  SgcStage: 'Keyword', // canary stage name, baseline phase, validation week label
  SgcPercent: 'Int', // canary percent to approach 2
  SgcDecision: 'Keyword', // STAY | MIGRATE | EXTEND | tripped | pass | fail …
  SgcWeek: 'Int', // validation week
  SgcStatus: 'Keyword', // running | paused | rolled_back | tripped | done
  SgcAgentId: 'Keyword', // gitOperationWorkflow: which agent
  SgcOperation: 'Keyword', // gitOperationWorkflow: create | pull | push
} as const satisfies Record<string, 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList'>;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
