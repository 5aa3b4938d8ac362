// Package contenders holds the ways of using SQLite that poolbench
// compares, each in the idiom its authors recommend for speed. Every one
// runs the same SQL (harness.SQLPointRead and friends) with the same
// settings: WAL, synchronous=NORMAL, the same busy timeout, write
// transactions that begin IMMEDIATE, and context.Background (so no
// contender pays for setting an interrupt on each operation).
package contenders
