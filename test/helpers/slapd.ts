/** The throw-away slapd lives in src/demo/slapd.ts (the demo starts one too); tests import it from here. */
export * from "../../src/demo/slapd.js";
