// validate.js — checks an OpenAPI document with @apidevtools/swagger-parser
// (schema validation against the official OpenAPI 3.1 JSON schema, then its
// own checks: $refs resolve, operationIds unique, path parameters declared).
// Usage: node validate.js FILE; prints one summary line, exits 1 on any error.
"use strict";
const SwaggerParser = require("@apidevtools/swagger-parser");

async function main() {
	const file = process.argv[2];
	if (!file) {
		console.error("usage: node validate.js openapi.json");
		process.exit(2);
	}
	try {
		const api = await SwaggerParser.validate(file);
		if (!/^3\.1\./.test(api.openapi))
			throw new Error("openapi is " + api.openapi + ", not 3.1.x");
		let ops = 0;
		for (const p of Object.values(api.paths))
			for (const m of ["get", "put", "post", "delete", "patch", "head", "options"])
				if (p[m])
					ops++;
		console.log("openapi: " + file + " is a valid OpenAPI " + api.openapi + " document, " +
			Object.keys(api.paths).length + " paths, " + ops + " operations");
	} catch (e) {
		console.error("openapi: " + file + " is NOT valid: " + e.message);
		process.exit(1);
	}
}
main();
