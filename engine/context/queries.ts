// Tree-sitter queries for symbol definitions, one per language (our own, written against the
// grammars in @vscode/tree-sitter-wasm 0.3.1). Conventions:
//   @def.<kind>  the declaration node (kind: function class method interface type enum constant module)
//   @name        its name
//   @export      (JS only) a CommonJS `exports.X = …` assignment, @value its right-hand side
// A function found inside a class-like container is reported as a method by outline.ts.
// Imports are read from the tree directly (imports.ts); the node types they use are listed there.
import type { LanguageId } from './types';

const TS_COMMON = `
(function_declaration name: (identifier) @name) @def.function
(generator_function_declaration name: (identifier) @name) @def.function
(class_declaration name: (_) @name) @def.class
(method_definition name: (_) @name) @def.method
(program (lexical_declaration (variable_declarator name: (identifier) @name)) @def.constant)
(program (variable_declaration (variable_declarator name: (identifier) @name)) @def.constant)
(export_statement declaration: (lexical_declaration (variable_declarator name: (identifier) @name)) @def.constant)
(export_statement declaration: (variable_declaration (variable_declarator name: (identifier) @name)) @def.constant)
`;

const TS_ONLY = `
(function_signature name: (identifier) @name) @def.function
(abstract_class_declaration name: (type_identifier) @name) @def.class
(abstract_method_signature name: (_) @name) @def.method
(method_signature name: (_) @name) @def.method
(interface_declaration name: (type_identifier) @name) @def.interface
(type_alias_declaration name: (type_identifier) @name) @def.type
(enum_declaration name: (identifier) @name) @def.enum
(internal_module name: (_) @name) @def.module
(ambient_declaration (lexical_declaration (variable_declarator name: (identifier) @name)) @def.constant)
`;

const JS_COMMONJS = `
(program (expression_statement (assignment_expression
  left: (member_expression object: (identifier) @_obj property: (property_identifier) @name)
  right: (_) @value)) @export (#eq? @_obj "exports"))
(program (expression_statement (assignment_expression
  left: (member_expression object: (member_expression object: (identifier) @_m property: (property_identifier) @_e)
                           property: (property_identifier) @name)
  right: (_) @value)) @export (#eq? @_m "module") (#eq? @_e "exports"))
`;

const PYTHON = `
(function_definition name: (identifier) @name) @def.function
(class_definition name: (identifier) @name) @def.class
(module (expression_statement (assignment left: (identifier) @name)) @def.constant)
`;

const GO = `
(function_declaration name: (identifier) @name) @def.function
(method_declaration name: (field_identifier) @name) @def.method
(type_spec name: (type_identifier) @name type: (struct_type)) @def.class
(type_spec name: (type_identifier) @name type: (interface_type)) @def.interface
(type_spec name: (type_identifier) @name) @def.type
(type_alias name: (type_identifier) @name) @def.type
(method_elem name: (field_identifier) @name) @def.method
(source_file (const_declaration (const_spec name: (identifier) @name) @def.constant))
(source_file (var_declaration (var_spec name: (identifier) @name) @def.constant))
`;

const RUST = `
(function_item name: (identifier) @name) @def.function
(function_signature_item name: (identifier) @name) @def.method
(struct_item name: (type_identifier) @name) @def.class
(union_item name: (type_identifier) @name) @def.class
(enum_item name: (type_identifier) @name) @def.enum
(trait_item name: (type_identifier) @name) @def.interface
(impl_item type: (_) @name) @def.class
(type_item name: (type_identifier) @name) @def.type
(const_item name: (identifier) @name) @def.constant
(static_item name: (identifier) @name) @def.constant
(mod_item name: (identifier) @name body: (declaration_list)) @def.module
(macro_definition name: (identifier) @name) @def.function
`;

const JAVA = `
(class_declaration name: (identifier) @name) @def.class
(record_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(annotation_type_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.method
(field_declaration declarator: (variable_declarator name: (identifier) @name)) @def.constant
`;

const CSHARP = `
(class_declaration name: (identifier) @name) @def.class
(struct_declaration name: (identifier) @name) @def.class
(record_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(delegate_declaration name: (identifier) @name) @def.type
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.method
(field_declaration (variable_declaration (variable_declarator name: (identifier) @name))) @def.constant
`;

const CPP = `
(function_definition declarator: (function_declarator declarator: (_) @name)) @def.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (_) @name))) @def.function
(function_definition declarator: (reference_declarator (function_declarator declarator: (_) @name))) @def.function
(declaration declarator: (function_declarator declarator: (_) @name)) @def.function
(declaration declarator: (pointer_declarator declarator: (function_declarator declarator: (_) @name))) @def.function
(field_declaration declarator: (function_declarator declarator: (_) @name)) @def.method
(class_specifier name: (type_identifier) @name body: (_)) @def.class
(struct_specifier name: (type_identifier) @name body: (_)) @def.class
(union_specifier name: (type_identifier) @name body: (_)) @def.class
(enum_specifier name: (type_identifier) @name body: (_)) @def.enum
(type_definition declarator: (type_identifier) @name) @def.type
(alias_declaration name: (type_identifier) @name) @def.type
(preproc_def name: (identifier) @name) @def.constant
(preproc_function_def name: (identifier) @name) @def.function
(translation_unit (declaration (type_qualifier) declarator: (init_declarator declarator: (identifier) @name)) @def.constant)
`;

export const SYMBOL_QUERIES: Record<LanguageId, string> = {
  typescript: TS_COMMON + TS_ONLY,
  tsx: TS_COMMON + TS_ONLY,
  javascript: TS_COMMON + JS_COMMONJS,
  python: PYTHON,
  go: GO,
  rust: RUST,
  java: JAVA,
  c: CPP,
  cpp: CPP,
  csharp: CSHARP,
};
