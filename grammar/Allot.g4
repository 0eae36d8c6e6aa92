// The Allot policy language.
//
// The grammar is deliberately generic: every declaration has the same shape
// (`KIND NAME [on TARGET] { ... }` or `KIND NAME = VALUE`), and the semantic
// stage gives meaning to kinds and property keys. This keeps the language
// regular for people who write it by hand and lets the checker, rather than
// the parser, say "unknown property `gpus`, did you mean `gpu`".
grammar Allot;

policyFile : importDecl* topItem* EOF ;

importDecl : IMPORT STRING SEP? ;

topItem : assertion | declaration ;

assertion : ASSERT expr (AS STRING)? SEP? ;

declaration
    : kind=word declName ((ON target=word)? body | EQ value) SEP?
    ;

// A dotted name (`Quota1.1`) is parsed so that the checker can reject it with
// a precise message instead of a cascade of syntax errors.
declName : word (DOT (word | NUMBER))* ;

body : LBRACE member* RBRACE ;

member : property | declaration | assertion ;

property : key=word EQ value SEP? ;

value
    : LBRACK (value (SEP value)* SEP?)? RBRACK     # listValue
    | word? body                                   # objectValue
    | count=NUMBER X flavor=word                   # nodesValue
    | low=expr (RANGE high=expr?)?                 # scalarValue
    ;

expr
    : expr DOT word                                # memberExpr
    | word LPAREN (expr (SEP expr)* SEP?)? RPAREN  # callExpr
    | LPAREN expr RPAREN                           # parenExpr
    | op=(MINUS | NOT) expr                        # unaryExpr
    | expr op=(STAR | SLASH) expr                  # mulExpr
    | expr op=(PLUS | MINUS) expr                  # addExpr
    | expr op=(EQEQ | NEQ | LT | LE | GT | GE) expr # compareExpr
    | expr AND expr                                # andExpr
    | expr OR expr                                 # orExpr
    | NUMBER                                       # numberExpr
    | STRING                                       # stringExpr
    | word                                         # nameExpr
    ;

// Keywords are soft: each may still be used as a name where a name is expected.
word : IDENT | X | ON | AS | AND | OR | NOT | IMPORT | ASSERT ;

IMPORT : 'import' ;
ASSERT : 'assert' ;
ON     : 'on' ;
AS     : 'as' ;
AND    : 'and' ;
OR     : 'or' ;
NOT    : 'not' ;
X      : 'x' ;

LBRACE : '{' ;
RBRACE : '}' ;
LBRACK : '[' ;
RBRACK : ']' ;
LPAREN : '(' ;
RPAREN : ')' ;
SEP    : ',' ;
RANGE  : '..' ;
DOT    : '.' ;
EQEQ   : '==' ;
NEQ    : '!=' ;
LE     : '<=' ;
GE     : '>=' ;
LT     : '<' ;
GT     : '>' ;
EQ     : '=' ;
PLUS   : '+' ;
MINUS  : '-' ;
STAR   : '*' ;
SLASH  : '/' ;

// A number may carry a unit suffix glued to it: `500m`, `80GiB`, `30s`, `12mo`.
NUMBER : [0-9]+ ('.' [0-9]+)? [a-zA-Z]* ;

// Names: letters, digits, `-` and `_`; a `-` may not end a name, so `a - b`
// needs spaces to mean subtraction.
IDENT  : [a-zA-Z_] ([a-zA-Z0-9_-]* [a-zA-Z0-9_])? ;

STRING : '"' (~["\\\r\n] | '\\' ~[\r\n])* '"' ;
UNTERMINATED_STRING : '"' (~["\\\r\n] | '\\' ~[\r\n])* ;

LINE_COMMENT  : ('//' | '#') ~[\r\n]* -> skip ;
BLOCK_COMMENT : '/*' .*? '*/' -> skip ;
WS : [ \t\r\n]+ -> skip ;

// Anything else becomes one token so the parser facade can report it precisely.
UNEXPECTED_CHAR : . ;
