/**
 * Typed keys for the custom search attributes in lib/search-attributes.ts (the names and types
 * provisioning registers). Workflows upsert with these keys; clients may set them at start.
 *
 * `@temporalio/common` is imported directly because `@temporalio/workflow` does not re-export
 * `defineSearchAttributeKey`; it is the SDK's own deterministic code, safe in the workflow bundle.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const sgcPhaseKey = defineSearchAttributeKey('SgcPhase', SearchAttributeType.KEYWORD);
export const sgcStageKey = defineSearchAttributeKey('SgcStage', SearchAttributeType.KEYWORD);
export const sgcPercentKey = defineSearchAttributeKey('SgcPercent', SearchAttributeType.INT);
export const sgcDecisionKey = defineSearchAttributeKey('SgcDecision', SearchAttributeType.KEYWORD);
export const sgcWeekKey = defineSearchAttributeKey('SgcWeek', SearchAttributeType.INT);
export const sgcStatusKey = defineSearchAttributeKey('SgcStatus', SearchAttributeType.KEYWORD);
export const sgcAgentIdKey = defineSearchAttributeKey('SgcAgentId', SearchAttributeType.KEYWORD);
export const sgcOperationKey = defineSearchAttributeKey('SgcOperation', SearchAttributeType.KEYWORD);
