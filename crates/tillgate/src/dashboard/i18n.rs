//! The dashboard's four languages: every label in en/de/fr/zh, and dates and amounts formatted per
//! language and currency (a small formatter of our own: `€12.50`, `12,50 €`, `¥12.50`).
pub use tillgate_diagnosis::Lang;

/// (key, [en, de, fr, zh]).
const LABELS: &[(&str, [&str; 4])] = &[
    (
        "app",
        [
            "tillgate dashboard",
            "tillgate-Dashboard",
            "Tableau de bord tillgate",
            "tillgate 控制台",
        ],
    ),
    ("nav_fleet", ["Fleet", "Flotte", "Parc", "设备总览"]),
    (
        "nav_payments",
        ["Payments", "Zahlungen", "Paiements", "支付"],
    ),
    (
        "nav_diagnosis",
        ["Diagnosis", "Diagnose", "Diagnostic", "诊断"],
    ),
    (
        "nav_settings",
        ["Settings", "Einstellungen", "Paramètres", "设置"],
    ),
    (
        "logout",
        ["Sign out", "Abmelden", "Se déconnecter", "退出登录"],
    ),
    ("login_title", ["Sign in", "Anmelden", "Connexion", "登录"]),
    ("email", ["Email", "E-Mail", "E-mail", "电子邮件"]),
    ("password", ["Password", "Passwort", "Mot de passe", "密码"]),
    ("sign_in", ["Sign in", "Anmelden", "Se connecter", "登录"]),
    (
        "bad_login",
        [
            "Wrong email or password.",
            "E-Mail oder Passwort falsch.",
            "E-mail ou mot de passe incorrect.",
            "电子邮件或密码错误。",
        ],
    ),
    (
        "too_many",
        [
            "Too many sign-in attempts. Wait a minute and try again.",
            "Zu viele Anmeldeversuche. Bitte eine Minute warten.",
            "Trop de tentatives de connexion. Réessayez dans une minute.",
            "登录尝试次数过多，请一分钟后重试。",
        ],
    ),
    (
        "forbidden",
        [
            "You are not allowed to do this.",
            "Dafür fehlt Ihnen die Berechtigung.",
            "Vous n'avez pas l'autorisation de faire ceci.",
            "您无权执行此操作。",
        ],
    ),
    (
        "not_found",
        ["Not found.", "Nicht gefunden.", "Introuvable.", "未找到。"],
    ),
    (
        "csrf_failed",
        [
            "This form has expired. Reload the page and try again.",
            "Dieses Formular ist abgelaufen. Seite neu laden und erneut versuchen.",
            "Ce formulaire a expiré. Rechargez la page et réessayez.",
            "表单已过期，请刷新页面后重试。",
        ],
    ),
    ("language", ["Language", "Sprache", "Langue", "语言"]),
    ("apply", ["Apply", "Anwenden", "Appliquer", "应用"]),
    (
        "fleet_title",
        ["Fleet", "Flotte", "Parc de terminaux", "设备总览"],
    ),
    ("location", ["Location", "Standort", "Magasin", "门店"]),
    ("reader", ["Reader", "Terminal", "Terminal", "终端"]),
    ("readers", ["Readers", "Terminals", "Terminaux", "终端"]),
    ("status", ["Status", "Status", "État", "状态"]),
    (
        "last_seen",
        [
            "Last seen",
            "Zuletzt gesehen",
            "Vu pour la dernière fois",
            "最后在线",
        ],
    ),
    ("ip", ["IP address", "IP-Adresse", "Adresse IP", "IP 地址"]),
    ("software", ["Software", "Software", "Logiciel", "软件版本"]),
    (
        "action",
        [
            "Current action",
            "Aktuelle Aktion",
            "Action en cours",
            "当前操作",
        ],
    ),
    ("signal", ["Signal", "Signal", "Signal", "信号"]),
    ("online", ["online", "online", "en ligne", "在线"]),
    ("offline", ["offline", "offline", "hors ligne", "离线"]),
    ("busy", ["busy", "beschäftigt", "occupé", "忙碌"]),
    ("all", ["All", "Alle", "Tous", "全部"]),
    (
        "needs_attention",
        [
            "Needs attention",
            "Braucht Aufmerksamkeit",
            "À surveiller",
            "需要关注",
        ],
    ),
    (
        "no_readers",
        [
            "No readers.",
            "Keine Terminals.",
            "Aucun terminal.",
            "没有终端。",
        ],
    ),
    ("live", ["live", "live", "en direct", "实时"]),
    (
        "export_csv",
        [
            "Export CSV",
            "CSV exportieren",
            "Exporter en CSV",
            "导出 CSV",
        ],
    ),
    ("search", ["Search", "Suche", "Recherche", "搜索"]),
    (
        "unassigned",
        ["No location", "Ohne Standort", "Sans magasin", "未分配门店"],
    ),
    ("none", ["none", "keine", "aucune", "无"]),
    ("never", ["never", "nie", "jamais", "从未"]),
    (
        "device_type",
        ["Device type", "Gerätetyp", "Type d'appareil", "设备类型"],
    ),
    (
        "serial",
        ["Serial number", "Seriennummer", "Numéro de série", "序列号"],
    ),
    ("label", ["Label", "Bezeichnung", "Libellé", "名称"]),
    ("driver", ["Driver", "Treiber", "Pilote", "驱动"]),
    ("upstream_reader", ["Stripe reader", "Stripe-Terminal", "Lecteur Stripe", "Stripe 读卡器"]),
    ("upstream_location", ["Stripe location", "Stripe-Standort", "Emplacement Stripe", "Stripe 门店"]),
    ("upstream_account", ["Connected account", "Verbundenes Konto", "Compte connecté", "关联账户"]),
    ("view_stripe", ["Stripe's view", "Sicht von Stripe", "Vue de Stripe", "Stripe 视角"]),
    ("view_lan", ["This gateway's LAN view", "Sicht dieses Gateways im LAN", "Vue du réseau local de cette passerelle", "本网关的局域网视角"]),
    ("lan_answers", ["answers", "antwortet", "répond", "有响应"]),
    ("lan_silent", ["no answer", "keine Antwort", "pas de réponse", "无响应"]),
    ("lan_elsewhere", ["not on this gateway's network", "nicht im Netz dieses Gateways", "hors du réseau de cette passerelle", "不在本网关的网络中"]),
    ("online_at_stripe", ["online at Stripe", "online bei Stripe", "en ligne chez Stripe", "在 Stripe 在线"]),
    ("offline_at_stripe", ["offline at Stripe", "offline bei Stripe", "hors ligne chez Stripe", "在 Stripe 离线"]),
    (
        "rtt",
        [
            "Round-trip time",
            "Antwortzeit",
            "Temps aller-retour",
            "往返时间",
        ],
    ),
    ("loss", ["Loss", "Verlust", "Perte", "丢包率"]),
    (
        "last_disconnect",
        [
            "Last disconnect",
            "Letzte Trennung",
            "Dernière déconnexion",
            "最近断开",
        ],
    ),
    (
        "ip_history",
        ["IP history", "IP-Verlauf", "Historique IP", "IP 历史"],
    ),
    (
        "event_log",
        [
            "Event log",
            "Ereignisprotokoll",
            "Journal des événements",
            "事件日志",
        ],
    ),
    ("time", ["Time", "Zeit", "Heure", "时间"]),
    ("event", ["Event", "Ereignis", "Événement", "事件"]),
    (
        "not_registered",
        ["not registered", "nicht registriert", "non enregistré", "未注册"],
    ),
    ("ev_online", ["Online", "Online", "En ligne", "上线"]),
    ("ev_offline", ["Offline", "Offline", "Hors ligne", "离线"]),
    (
        "ev_ip_changed",
        [
            "IP address changed",
            "IP-Adresse geändert",
            "Adresse IP modifiée",
            "IP 地址已变更",
        ],
    ),
    ("ev_rebooted", ["Restarted", "Neu gestartet", "Redémarré", "已重启"]),
    (
        "ev_firmware_changed",
        [
            "Software updated",
            "Software aktualisiert",
            "Logiciel mis à jour",
            "软件已更新",
        ],
    ),
    (
        "ev_action_succeeded",
        [
            "Action succeeded",
            "Aktion erfolgreich",
            "Action réussie",
            "操作成功",
        ],
    ),
    (
        "ev_action_failed",
        [
            "Action failed",
            "Aktion fehlgeschlagen",
            "Action échouée",
            "操作失败",
        ],
    ),
    (
        "ev_degraded",
        [
            "Unstable link",
            "Instabile Verbindung",
            "Liaison instable",
            "连接不稳定",
        ],
    ),
    (
        "ev_stable",
        [
            "Link stable again",
            "Verbindung wieder stabil",
            "Liaison de nouveau stable",
            "连接恢复稳定",
        ],
    ),
    ("reason", ["Reason", "Grund", "Raison", "原因"]),
    (
        "diagnoses",
        [
            "Last diagnoses",
            "Letzte Diagnosen",
            "Derniers diagnostics",
            "最近诊断",
        ],
    ),
    (
        "diagnose_now",
        [
            "Diagnose now",
            "Jetzt diagnostizieren",
            "Diagnostiquer maintenant",
            "立即诊断",
        ],
    ),
    (
        "cancel_action",
        [
            "Cancel current action",
            "Aktuelle Aktion abbrechen",
            "Annuler l'action en cours",
            "取消当前操作",
        ],
    ),
    (
        "test_cart",
        [
            "Show a test cart on the display",
            "Testwarenkorb anzeigen",
            "Afficher un panier de test",
            "在屏幕上显示测试购物车",
        ],
    ),
    ("actions", ["Actions", "Aktionen", "Actions", "操作"]),
    (
        "chart_rtt",
        [
            "Round-trip time (ms)",
            "Antwortzeit (ms)",
            "Temps aller-retour (ms)",
            "往返时间（毫秒）",
        ],
    ),
    (
        "chart_loss",
        [
            "Lost probes (%)",
            "Verlorene Abfragen (%)",
            "Sondes perdues (%)",
            "探测丢失率（%）",
        ],
    ),
    (
        "chart_signal",
        [
            "Wi-Fi signal (dBm)",
            "WLAN-Signal (dBm)",
            "Signal Wi-Fi (dBm)",
            "Wi-Fi 信号（dBm）",
        ],
    ),
    (
        "chart_no_data",
        [
            "No measurements yet",
            "Noch keine Messwerte",
            "Pas encore de mesures",
            "暂无测量数据",
        ],
    ),
    (
        "chart_24h",
        [
            "Last 24 hours",
            "Letzte 24 Stunden",
            "Dernières 24 heures",
            "最近 24 小时",
        ],
    ),
    (
        "no_events",
        [
            "No events.",
            "Keine Ereignisse.",
            "Aucun événement.",
            "没有事件。",
        ],
    ),
    (
        "healthy",
        [
            "No problem found: the signals look normal.",
            "Kein Problem gefunden: die Signale sind normal.",
            "Aucun problème trouvé : les signaux sont normaux.",
            "未发现问题：信号正常。",
        ],
    ),
    (
        "causes",
        [
            "Likely causes",
            "Wahrscheinliche Ursachen",
            "Causes probables",
            "可能原因",
        ],
    ),
    ("evidence", ["Evidence", "Belege", "Indices", "证据"]),
    (
        "remedy",
        ["What to do", "Was zu tun ist", "Que faire", "处理步骤"],
    ),
    (
        "confidence",
        ["Confidence", "Sicherheit", "Confiance", "置信度"],
    ),
    (
        "next_test",
        ["Next test", "Nächster Test", "Test suivant", "下一步测试"],
    ),
    ("done", ["Done.", "Erledigt.", "Fait.", "已完成。"]),
    ("failed", ["Failed", "Fehlgeschlagen", "Échec", "失败"]),
    (
        "payments_title",
        ["Payments", "Zahlungen", "Paiements", "支付"],
    ),
    ("amount", ["Amount", "Betrag", "Montant", "金额"]),
    ("created", ["Created", "Erstellt", "Créé", "创建时间"]),
    ("date_from", ["From", "Von", "Du", "开始日期"]),
    ("date_to", ["To", "Bis", "Au", "结束日期"]),
    (
        "min_amount",
        ["Min. amount", "Mindestbetrag", "Montant min.", "最小金额"],
    ),
    (
        "max_amount",
        ["Max. amount", "Höchstbetrag", "Montant max.", "最大金额"],
    ),
    ("payment", ["Payment", "Zahlung", "Paiement", "支付"]),
    ("charge", ["Charge", "Belastung", "Débit", "扣款"]),
    (
        "refunds",
        ["Refunds", "Erstattungen", "Remboursements", "退款"],
    ),
    ("receipt", ["Receipt", "Beleg", "Reçu", "收据"]),
    ("refund", ["Refund", "Erstatten", "Rembourser", "退款"]),
    (
        "refund_amount",
        [
            "Amount to refund (empty: all)",
            "Zu erstattender Betrag (leer: alles)",
            "Montant à rembourser (vide : tout)",
            "退款金额（留空：全部）",
        ],
    ),
    ("refunded", ["Refunded", "Erstattet", "Remboursé", "已退款"]),
    ("card", ["Card", "Karte", "Carte", "卡"]),
    (
        "no_payments",
        [
            "No payments.",
            "Keine Zahlungen.",
            "Aucun paiement.",
            "没有支付。",
        ],
    ),
    (
        "totals",
        [
            "Totals per location and day",
            "Summen je Standort und Tag",
            "Totaux par magasin et par jour",
            "按门店和日期汇总",
        ],
    ),
    ("day", ["Day", "Tag", "Jour", "日期"]),
    (
        "batches_title",
        [
            "End-of-day batches: the terminal's ledger beside tillgate's",
            "Tagesabschlüsse: Terminal und tillgate nebeneinander",
            "Clôtures de journée : le terminal à côté de tillgate",
            "日结批次：终端账目与 tillgate 账目对照",
        ],
    ),
    (
        "no_batches",
        [
            "No batch closed yet.",
            "Noch kein Tagesabschluss.",
            "Aucune clôture pour l'instant.",
            "尚无日结批次。",
        ],
    ),
    (
        "reconciliation_mismatch",
        [
            "End of day does not match:",
            "Tagesabschluss stimmt nicht überein:",
            "La clôture ne correspond pas :",
            "日结对账不一致：",
        ],
    ),
    ("closed_at", ["Closed", "Abgeschlossen", "Clôturé", "结算时间"]),
    ("terminal_side", ["Terminal", "Terminal", "Terminal", "终端"]),
    ("tillgate_side", ["tillgate", "tillgate", "tillgate", "tillgate"]),
    ("differences", ["Differences", "Abweichungen", "Écarts", "差异"]),
    ("batch_matched", ["matched", "stimmt", "concordant", "一致"]),
    ("batch_mismatch", ["mismatch", "Abweichung", "écart", "不一致"]),
    ("batch_unverified", ["not verifiable", "nicht prüfbar", "non vérifiable", "无法核对"]),
    ("count", ["Count", "Anzahl", "Nombre", "笔数"]),
    (
        "diagnosis_title",
        ["Diagnosis", "Diagnose", "Diagnostic", "诊断"],
    ),
    (
        "run_for",
        [
            "Run a diagnosis for",
            "Diagnose ausführen für",
            "Lancer un diagnostic pour",
            "诊断对象",
        ],
    ),
    (
        "whole_fleet",
        [
            "The whole fleet",
            "Die ganze Flotte",
            "Tout le parc",
            "全部设备",
        ],
    ),
    ("run", ["Run", "Ausführen", "Lancer", "运行"]),
    ("running", ["Running…", "Läuft…", "En cours…", "运行中…"]),
    ("print", ["Print", "Drucken", "Imprimer", "打印"]),
    (
        "settings_title",
        ["Settings", "Einstellungen", "Paramètres", "设置"],
    ),
    (
        "api_keys",
        ["API keys", "API-Schlüssel", "Clés API", "API 密钥"],
    ),
    (
        "create_key",
        [
            "Create a secret key",
            "Geheimen Schlüssel erstellen",
            "Créer une clé secrète",
            "创建密钥",
        ],
    ),
    ("revoke", ["Revoke", "Widerrufen", "Révoquer", "吊销"]),
    ("revoked", ["revoked", "widerrufen", "révoquée", "已吊销"]),
    ("active", ["active", "aktiv", "active", "有效"]),
    (
        "shown_once",
        [
            "Shown once — store it now:",
            "Wird nur einmal angezeigt — jetzt sichern:",
            "Affichée une seule fois — conservez-la maintenant :",
            "仅显示一次——请立即保存：",
        ],
    ),
    (
        "webhooks",
        [
            "Webhook endpoints",
            "Webhook-Endpunkte",
            "Points de terminaison webhook",
            "Webhook 端点",
        ],
    ),
    ("url", ["URL", "URL", "URL", "URL"]),
    ("events", ["Events", "Ereignisse", "Événements", "事件"]),
    ("users", ["Users", "Benutzer", "Utilisateurs", "用户"]),
    ("role", ["Role", "Rolle", "Rôle", "角色"]),
    ("locations", ["Locations", "Standorte", "Magasins", "门店"]),
    (
        "create_user",
        [
            "Add a user",
            "Benutzer hinzufügen",
            "Ajouter un utilisateur",
            "添加用户",
        ],
    ),
    (
        "audit_log",
        [
            "Audit log",
            "Änderungsprotokoll",
            "Journal d'audit",
            "审计日志",
        ],
    ),
    ("who", ["Who", "Wer", "Qui", "操作人"]),
    ("what", ["What", "Was", "Quoi", "操作"]),
    ("when", ["When", "Wann", "Quand", "时间"]),
    ("from_where", ["From", "Von wo", "Depuis", "来源"]),
    ("detail", ["Detail", "Details", "Détail", "详情"]),
    ("hint", ["Key", "Schlüssel", "Clé", "密钥"]),
    (
        "nothing",
        [
            "Nothing yet.",
            "Noch nichts.",
            "Rien pour l'instant.",
            "暂无。",
        ],
    ),
    (
        "role_admin",
        ["admin", "Administrator", "administrateur", "管理员"],
    ),
    (
        "role_manager",
        ["manager", "Filialleitung", "gérant", "店长"],
    ),
    (
        "role_viewer",
        ["viewer", "Nur lesen", "lecture seule", "只读"],
    ),
    (
        "skip_to_content",
        [
            "Skip to content",
            "Zum Inhalt springen",
            "Aller au contenu",
            "跳到正文",
        ],
    ),
    (
        "signed_in_as",
        [
            "Signed in as",
            "Angemeldet als",
            "Connecté en tant que",
            "当前用户",
        ],
    ),
    ("rename", ["Rename", "Umbenennen", "Renommer", "重命名"]),
    (
        "delete_reader",
        [
            "Delete this reader",
            "Dieses Terminal löschen",
            "Supprimer ce terminal",
            "删除此终端",
        ],
    ),
    (
        "move_hint",
        [
            "To move a reader to another location, delete it and register it again there.",
            "Um ein Terminal an einen anderen Standort zu verlegen, löschen Sie es und registrieren Sie es dort neu.",
            "Pour déplacer un terminal vers un autre site, supprimez-le puis enregistrez-le à nouveau là-bas.",
            "如需将终端移到其他门店，请先删除，再在新门店重新注册。",
        ],
    ),
    (
        "label_required",
        [
            "The label must have 1 to 100 characters.",
            "Die Bezeichnung muss 1 bis 100 Zeichen lang sein.",
            "Le libellé doit comporter de 1 à 100 caractères.",
            "名称须为 1 至 100 个字符。",
        ],
    ),
    (
        "register_reader",
        [
            "Register a reader",
            "Terminal registrieren",
            "Enregistrer un terminal",
            "注册终端",
        ],
    ),
    (
        "registration_code",
        [
            "Registration code",
            "Registrierungscode",
            "Code d'enregistrement",
            "注册码",
        ],
    ),
    ("register", ["Register", "Registrieren", "Enregistrer", "注册"]),
    ("deliveries", ["Deliveries", "Zustellungen", "Livraisons", "投递记录"]),
    ("attempts", ["Attempts", "Versuche", "Tentatives", "尝试"]),
    ("alert_rules", ["Alert rules", "Alarmregeln", "Règles d'alerte", "告警规则"]),
    ("rule_type", ["Rule", "Regel", "Règle", "规则"]),
    ("threshold", ["Threshold", "Schwelle", "Seuil", "阈值"]),
    (
        "threshold_secs",
        [
            "Offline for (s)",
            "Offline seit (s)",
            "Hors ligne depuis (s)",
            "离线时长（秒）",
        ],
    ),
    (
        "threshold_share",
        [
            "Share offline (0–1)",
            "Anteil offline (0–1)",
            "Part hors ligne (0–1)",
            "离线比例（0–1）",
        ],
    ),
    (
        "opening_hours_only",
        [
            "During opening hours only",
            "Nur während der Öffnungszeiten",
            "Pendant les heures d'ouverture seulement",
            "仅在营业时间内",
        ],
    ),
    (
        "rule_reader_offline",
        [
            "A reader is offline",
            "Ein Terminal ist offline",
            "Un terminal est hors ligne",
            "终端离线",
        ],
    ),
    (
        "rule_location_offline_share",
        [
            "A share of a store's readers is offline",
            "Ein Anteil der Terminals eines Standorts ist offline",
            "Une part des terminaux d'un site est hors ligne",
            "门店部分终端离线",
        ],
    ),
    (
        "create_rule",
        [
            "Add an alert rule",
            "Alarmregel hinzufügen",
            "Ajouter une règle d'alerte",
            "添加告警规则",
        ],
    ),
    ("delete", ["Delete", "Löschen", "Supprimer", "删除"]),
    ("disabled", ["Disabled", "Deaktiviert", "Désactivée", "已停用"]),
];

/// The label `key` in `lang` (the key itself if it is unknown, so a missing label shows up in tests).
pub fn t(lang: Lang, key: &'static str) -> &'static str {
    let i = lang_index(lang);
    LABELS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v[i])
        .unwrap_or(key)
}

/// A reader-event log entry's `type` as a label; a type without one is shown as it is stored.
pub fn event_name(lang: Lang, kind: &str) -> String {
    let key = format!("ev_{kind}");
    LABELS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v[lang_index(lang)].to_owned())
        .unwrap_or_else(|| kind.to_owned())
}

fn lang_index(lang: Lang) -> usize {
    match lang {
        Lang::En => 0,
        Lang::De => 1,
        Lang::Fr => 2,
        Lang::Zh => 3,
    }
}

/// The name of a language in itself (for the switcher).
pub fn endonym(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "English",
        Lang::De => "Deutsch",
        Lang::Fr => "Français",
        Lang::Zh => "中文",
    }
}

/// Minor-unit digits of a currency (ISO 4217; the zero-decimal ones tillgate may see).
fn decimals(currency: &str) -> u32 {
    match currency {
        "jpy" | "krw" | "vnd" | "clp" | "isk" | "huf" => 0,
        _ => 2,
    }
}

fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "eur" => "€",
        "usd" => "$",
        "gbp" => "£",
        "cny" | "jpy" => "¥",
        _ => return None,
    })
}

fn group(int: u64, sep: &str) -> String {
    let digits = int.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// An amount in minor units as people of `lang` write it: `€1,234.50` (en, zh), `1.234,50 €` (de),
/// `1 234,50 €` (fr); unknown currencies by their code.
pub fn money(lang: Lang, minor: i64, currency: &str) -> String {
    let currency = currency.to_ascii_lowercase();
    let d = decimals(&currency);
    let scale = 10u64.pow(d);
    let abs = minor.unsigned_abs();
    let (int, frac) = (abs / scale, abs % scale);
    let sign = if minor < 0 { "-" } else { "" };
    let (thousands, point) = match lang {
        Lang::En | Lang::Zh => (",", "."),
        Lang::De => (".", ","),
        Lang::Fr => ("\u{202f}", ","),
    };
    let mut number = group(int, thousands);
    if d > 0 {
        number.push_str(point);
        number.push_str(&format!("{frac:0width$}", width = d as usize));
    }
    let sym = symbol(&currency)
        .map(str::to_owned)
        .unwrap_or_else(|| currency.to_ascii_uppercase());
    match lang {
        Lang::En | Lang::Zh => {
            if sym.chars().count() > 1 {
                format!("{sign}{sym} {number}")
            } else {
                format!("{sign}{sym}{number}")
            }
        }
        Lang::De | Lang::Fr => format!("{sign}{number}\u{a0}{sym}"),
    }
}

/// Parses an amount typed in a form (`12.50`, `12,50`, `12`) into minor units.
pub fn parse_money(text: &str, currency: &str) -> Option<i64> {
    let text = text.trim().replace(['\u{a0}', ' ', '\u{202f}'], "");
    if text.is_empty() {
        return None;
    }
    let d = decimals(&currency.to_ascii_lowercase());
    let text = text.replace(',', ".");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > d as usize {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_val: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = d as usize)
            .parse()
            .ok()?
    };
    int.checked_mul(10i64.pow(d))?.checked_add(frac_val)
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's civil-from-days).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A date as `lang` writes it (UTC).
pub fn date(lang: Lang, secs: i64) -> String {
    let (y, m, d) = civil(secs.div_euclid(86_400));
    match lang {
        Lang::En => format!("{y}-{m:02}-{d:02}"),
        Lang::De => format!("{d:02}.{m:02}.{y}"),
        Lang::Fr => format!("{d:02}/{m:02}/{y}"),
        Lang::Zh => format!("{y}年{m}月{d}日"),
    }
}

/// A date and time as `lang` writes it (UTC, 24-hour clock).
pub fn datetime(lang: Lang, secs: i64) -> String {
    let s = secs.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        date(lang, secs),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Parses `YYYY-MM-DD` (an HTML date input) into seconds at 00:00 UTC.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut it = text.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_has_four_languages() {
        for (key, texts) in LABELS {
            assert!(texts.iter().all(|s| !s.is_empty()), "{key}");
        }
        let mut keys: Vec<_> = LABELS.iter().map(|(k, _)| *k).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), LABELS.len(), "duplicate label keys");
    }

    #[test]
    fn every_reader_event_type_has_a_name_in_every_language() {
        for kind in [
            "online",
            "offline",
            "ip_changed",
            "rebooted",
            "firmware_changed",
            "action_succeeded",
            "action_failed",
            "degraded",
            "stable",
        ] {
            for l in Lang::ALL {
                let name = event_name(l, kind);
                assert!(!name.is_empty() && name != kind, "{kind} {l}");
            }
        }
        assert_eq!(event_name(Lang::De, "ip_changed"), "IP-Adresse geändert");
        assert_eq!(event_name(Lang::En, "something_new"), "something_new");
    }

    #[test]
    fn amounts_are_written_per_language_and_currency() {
        assert_eq!(money(Lang::En, 1250, "eur"), "€12.50");
        assert_eq!(money(Lang::De, 1250, "eur"), "12,50\u{a0}€");
        assert_eq!(money(Lang::Fr, 123_450, "eur"), "1\u{202f}234,50\u{a0}€");
        assert_eq!(money(Lang::De, 123_450, "eur"), "1.234,50\u{a0}€");
        assert_eq!(money(Lang::Zh, 1250, "cny"), "¥12.50");
        assert_eq!(money(Lang::En, 500, "jpy"), "¥500");
        assert_eq!(money(Lang::En, -1250, "chf"), "-CHF 12.50");
    }

    #[test]
    fn typed_amounts_parse_into_minor_units() {
        assert_eq!(parse_money("12,50", "eur"), Some(1250));
        assert_eq!(parse_money("12.5", "eur"), Some(1250));
        assert_eq!(parse_money("7", "eur"), Some(700));
        assert_eq!(parse_money("1.234", "eur"), None);
        assert_eq!(parse_money("abc", "eur"), None);
    }

    #[test]
    fn dates_round_trip_and_read_per_language() {
        let secs = parse_date("2024-02-29").unwrap();
        assert_eq!(date(Lang::En, secs), "2024-02-29");
        assert_eq!(date(Lang::De, secs), "29.02.2024");
        assert_eq!(date(Lang::Fr, secs), "29/02/2024");
        assert_eq!(date(Lang::Zh, secs), "2024年2月29日");
        assert_eq!(datetime(Lang::En, secs + 3661), "2024-02-29 01:01:01 UTC");
    }
}
