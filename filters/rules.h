/* rules.h — placeholder for the rule engine of the filter applet (see the
 * filter issue): rules parsed from libconfig, compiled into IMAP SEARCH
 * pre-filters plus PCRE2 checks on fetched, decoded header fields, evaluated
 * here without any I/O of its own (data flows cmd/ -> filters/ -> lib/).
 * Nothing is implemented yet, so nothing is declared: the removal and
 * selection engine it will build on is lib/select.h. */
#ifndef MT_FILTERS_RULES_H
#define MT_FILTERS_RULES_H
#endif
