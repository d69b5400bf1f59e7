/* cmd_import.c — placeholder */
