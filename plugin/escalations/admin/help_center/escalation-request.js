/*
 * Escalation requests for Zendesk: "Escalate this request" on a Help Center request page.
 *
 * Plain JavaScript for a Zendesk Help Center theme: no build step, no dependencies. The snippet
 * in request_page.hbs renders a hidden <section data-escalation-request> holding the request's
 * id, the Help Center locale and the account's settings (written by `escalations package-theme`).
 * This script reads the signed-in user and the request through Zendesk's API with the Help Center
 * session, offers the form to the people the escalation policy allows, and adds the customer's
 * comment, with the phrase and their reason, through the Requests API as that customer. The
 * escalation service then handles the comment like any other; nothing here decides an escalation.
 *
 * EscalationRequest.* is the pure part (data in, data out: which view, which words); the rest
 * talks to the page and the API. Everything shown is set as text, never as HTML.
 */
(function () {
  'use strict';

  var STATUS_PREFIX = 'escalation_status_';
  var MIN_REASON_LENGTH = 10;
  var MAX_REASON_LENGTH = 4000; // the service records at most this much of a reason
  var WATCH_EVERY_MS = 2000;
  var WATCH_FOR_MS = 120000;
  var DEFAULT_PHRASE = 'escalation request';
  var LOCALES = ['en', 'de', 'fr', 'es', 'pt-BR', 'ja'];

  // The service's policy in the customer's words: who reviews, how soon, what it does not do, once only.
  var TEXTS = {
    en: {
      intro: 'If this case is not going well, you can ask a Support Manager to review it.',
      action: 'Escalate this request',
      about: [
        'A Support Manager, not the engineer working on your case, reviews it and contacts you.',
        'The first response is due within 24 working hours. An escalation does not by itself make the resolution faster.',
        'A case can be escalated only once. For an update, or to ask for a higher severity, add a comment instead.'
      ],
      reasonLabel: 'Why should this case be escalated?',
      reasonHint: 'Describe the impact on your business (at least {min} characters).',
      contactLabel: 'New contact details for the Support Manager (optional)',
      contactHint: 'An email address or phone number, if the manager should reach you another way than the contact details on this case.',
      submit: 'Escalate',
      cancel: 'Cancel',
      sending: 'Sending…',
      reasonTooShort: 'Give a reason of at least {min} characters.',
      contactInvalid: 'Enter an email address or a phone number, or leave this field empty.',
      notSent: 'The escalation could not be sent from this page. Add a comment to this request with the words “{phrase}” and your reason instead; it is handled the same way.',
      notUpdatable: 'This request can no longer be updated.',
      failed: 'The escalation could not be sent. Try again, or add a comment with the words “{phrase}” and your reason.',
      requested: 'Escalation requested',
      requestedBody: 'Thank you. A Support Manager will review your case and contact you. The details appear here once they are recorded.',
      yourReason: 'Your reason',
      slow: 'The escalation is still being recorded; reload this page in a minute to see it.',
      recorded: 'Your escalation is recorded.',
      escalated: 'This request is escalated',
      labels: { status: 'Status', requestedAt: 'Requested', responseDue: 'First response due', acknowledgedAt: 'Support Manager replied', resolvedAt: 'Resolved' },
      statuses: { requested: 'Waiting for a Support Manager', acknowledged: 'A Support Manager has replied', resolved: 'Resolved' },
      onceOnly: 'A case can be escalated only once. For an update, add a comment to this request; if the impact on your business has grown, ask for a higher severity in a comment and describe the impact.',
      resolvedTitle: 'The escalation of this request is resolved',
      resolvedBody: 'A case can be escalated only once. If you still need help, add a comment to this request.',
      solved: 'This request is solved. If the problem is not solved after all, escalating the request reopens it.',
      closed: 'This request is closed, so it can no longer be escalated.',
      requesterOnly: 'Only the person who opened this request can escalate it. You can add a comment instead.',
      contactLine: 'New contact details',
      sentFrom: '(Sent from the Help Center in English)'
    },
    de: {
      intro: 'Wenn dieser Fall nicht gut läuft, können Sie einen Support-Manager bitten, ihn zu prüfen.',
      action: 'Diese Anfrage eskalieren',
      about: [
        'Ein Support-Manager – nicht die Person, die Ihren Fall bearbeitet – prüft den Fall und setzt sich mit Ihnen in Verbindung.',
        'Die erste Rückmeldung erhalten Sie innerhalb von 24 Arbeitsstunden. Allein durch die Eskalation wird die Lösung nicht schneller.',
        'Ein Fall kann nur einmal eskaliert werden. Für einen Zwischenstand oder einen höheren Schweregrad schreiben Sie stattdessen einen Kommentar.'
      ],
      reasonLabel: 'Warum soll dieser Fall eskaliert werden?',
      reasonHint: 'Beschreiben Sie die Auswirkungen auf Ihr Geschäft (mindestens {min} Zeichen).',
      contactLabel: 'Neue Kontaktdaten für den Support-Manager (optional)',
      contactHint: 'Eine E-Mail-Adresse oder Telefonnummer, falls der Support-Manager Sie anders als über die Kontaktdaten in diesem Fall erreichen soll.',
      submit: 'Eskalieren',
      cancel: 'Abbrechen',
      sending: 'Wird gesendet …',
      reasonTooShort: 'Geben Sie einen Grund mit mindestens {min} Zeichen an.',
      contactInvalid: 'Geben Sie eine E-Mail-Adresse oder Telefonnummer ein oder lassen Sie das Feld leer.',
      notSent: 'Die Eskalation konnte von dieser Seite aus nicht gesendet werden. Schreiben Sie stattdessen einen Kommentar zu dieser Anfrage mit den Worten „{phrase}“ und Ihrem Grund; er wird genauso bearbeitet.',
      notUpdatable: 'Diese Anfrage kann nicht mehr geändert werden.',
      failed: 'Die Eskalation konnte nicht gesendet werden. Versuchen Sie es noch einmal oder schreiben Sie einen Kommentar mit den Worten „{phrase}“ und Ihrem Grund.',
      requested: 'Eskalation angefordert',
      requestedBody: 'Vielen Dank. Ein Support-Manager prüft Ihren Fall und setzt sich mit Ihnen in Verbindung. Die Einzelheiten erscheinen hier, sobald sie erfasst sind.',
      yourReason: 'Ihr Grund',
      slow: 'Die Eskalation wird noch erfasst. Laden Sie die Seite in einer Minute neu, um sie zu sehen.',
      recorded: 'Ihre Eskalation ist erfasst.',
      escalated: 'Diese Anfrage ist eskaliert',
      labels: { status: 'Status', requestedAt: 'Angefordert', responseDue: 'Erste Rückmeldung bis', acknowledgedAt: 'Antwort des Support-Managers', resolvedAt: 'Abgeschlossen' },
      statuses: { requested: 'Wartet auf einen Support-Manager', acknowledged: 'Ein Support-Manager hat geantwortet', resolved: 'Abgeschlossen' },
      onceOnly: 'Ein Fall kann nur einmal eskaliert werden. Für einen Zwischenstand schreiben Sie einen Kommentar zu dieser Anfrage; wenn die Auswirkungen auf Ihr Geschäft zugenommen haben, bitten Sie in einem Kommentar um einen höheren Schweregrad und beschreiben Sie die Auswirkungen.',
      resolvedTitle: 'Die Eskalation dieser Anfrage ist abgeschlossen',
      resolvedBody: 'Ein Fall kann nur einmal eskaliert werden. Wenn Sie weiterhin Hilfe brauchen, schreiben Sie einen Kommentar zu dieser Anfrage.',
      solved: 'Diese Anfrage ist gelöst. Wenn das Problem doch weiterbesteht, wird die Anfrage durch die Eskalation wieder geöffnet.',
      closed: 'Diese Anfrage ist geschlossen und kann deshalb nicht mehr eskaliert werden.',
      requesterOnly: 'Nur die Person, die diese Anfrage gestellt hat, kann sie eskalieren. Sie können stattdessen einen Kommentar schreiben.',
      contactLine: 'Neue Kontaktdaten',
      sentFrom: '(Über das Hilfe-Center auf Deutsch gesendet)'
    },
    fr: {
      intro: 'Si ce dossier ne se passe pas bien, vous pouvez demander à un responsable du support de l’examiner.',
      action: 'Escalader cette demande',
      about: [
        'Un responsable du support, et non la personne qui traite votre dossier, l’examine et prend contact avec vous.',
        'Le premier retour intervient dans les 24 heures ouvrées. Une escalade n’accélère pas à elle seule la résolution.',
        'Un dossier ne peut être escaladé qu’une seule fois. Pour un point d’avancement ou un niveau de gravité plus élevé, ajoutez plutôt un commentaire.'
      ],
      reasonLabel: 'Pourquoi ce dossier doit-il être escaladé\u00a0?',
      reasonHint: 'Décrivez l’impact sur votre activité (au moins {min} caractères).',
      contactLabel: 'Nouvelles coordonnées pour le responsable du support (facultatif)',
      contactHint: 'Une adresse e-mail ou un numéro de téléphone, si le responsable doit vous joindre autrement que par les coordonnées de ce dossier.',
      submit: 'Escalader',
      cancel: 'Annuler',
      sending: 'Envoi…',
      reasonTooShort: 'Indiquez une raison d’au moins {min} caractères.',
      contactInvalid: 'Saisissez une adresse e-mail ou un numéro de téléphone, ou laissez ce champ vide.',
      notSent: 'L’escalade n’a pas pu être envoyée depuis cette page. Ajoutez plutôt à cette demande un commentaire contenant les mots «\u00a0{phrase}\u00a0» et votre raison\u00a0; il sera traité de la même façon.',
      notUpdatable: 'Cette demande ne peut plus être modifiée.',
      failed: 'L’escalade n’a pas pu être envoyée. Réessayez, ou ajoutez un commentaire contenant les mots «\u00a0{phrase}\u00a0» et votre raison.',
      requested: 'Escalade demandée',
      requestedBody: 'Merci. Un responsable du support va examiner votre dossier et prendre contact avec vous. Les détails s’afficheront ici dès qu’ils seront enregistrés.',
      yourReason: 'Votre raison',
      slow: 'L’escalade est en cours d’enregistrement\u00a0; rechargez cette page dans une minute pour la voir.',
      recorded: 'Votre escalade est enregistrée.',
      escalated: 'Cette demande est escaladée',
      labels: { status: 'Statut', requestedAt: 'Demandée', responseDue: 'Premier retour attendu', acknowledgedAt: 'Réponse du responsable', resolvedAt: 'Résolue' },
      statuses: { requested: 'En attente d’un responsable du support', acknowledged: 'Un responsable du support vous a répondu', resolved: 'Résolue' },
      onceOnly: 'Un dossier ne peut être escaladé qu’une seule fois. Pour un point d’avancement, ajoutez un commentaire à cette demande\u00a0; si l’impact sur votre activité s’est aggravé, demandez dans un commentaire un niveau de gravité plus élevé en décrivant cet impact.',
      resolvedTitle: 'L’escalade de cette demande est résolue',
      resolvedBody: 'Un dossier ne peut être escaladé qu’une seule fois. Si vous avez encore besoin d’aide, ajoutez un commentaire à cette demande.',
      solved: 'Cette demande est résolue. Si le problème persiste malgré tout, l’escalader la rouvre.',
      closed: 'Cette demande est clôturée\u00a0: elle ne peut plus être escaladée.',
      requesterOnly: 'Seule la personne qui a ouvert cette demande peut l’escalader. Vous pouvez ajouter un commentaire à la place.',
      contactLine: 'Nouvelles coordonnées',
      sentFrom: '(Envoyé depuis le centre d’aide en français)'
    },
    es: {
      intro: 'Si este caso no va bien, puede pedir a un responsable de soporte que lo revise.',
      action: 'Escalar esta solicitud',
      about: [
        'Un responsable de soporte, y no la persona que trabaja en su caso, lo revisa y se pone en contacto con usted.',
        'La primera respuesta llega en un plazo de 24 horas laborables. Escalar no acelera por sí solo la resolución.',
        'Un caso solo puede escalarse una vez. Para pedir una actualización o un nivel de gravedad más alto, añada un comentario en su lugar.'
      ],
      reasonLabel: '¿Por qué debe escalarse este caso?',
      reasonHint: 'Describa el impacto en su negocio (al menos {min} caracteres).',
      contactLabel: 'Nuevos datos de contacto para el responsable de soporte (opcional)',
      contactHint: 'Una dirección de correo electrónico o un número de teléfono, si el responsable debe contactarle por otro medio que los datos de este caso.',
      submit: 'Escalar',
      cancel: 'Cancelar',
      sending: 'Enviando…',
      reasonTooShort: 'Indique un motivo de al menos {min} caracteres.',
      contactInvalid: 'Indique una dirección de correo electrónico o un número de teléfono, o deje este campo vacío.',
      notSent: 'No se pudo enviar la escalación desde esta página. En su lugar, añada a esta solicitud un comentario con las palabras «{phrase}» y su motivo; se tramitará de la misma forma.',
      notUpdatable: 'Esta solicitud ya no se puede modificar.',
      failed: 'No se pudo enviar la escalación. Inténtelo de nuevo o añada un comentario con las palabras «{phrase}» y su motivo.',
      requested: 'Escalación solicitada',
      requestedBody: 'Gracias. Un responsable de soporte revisará su caso y se pondrá en contacto con usted. Los detalles aparecerán aquí en cuanto se registren.',
      yourReason: 'Su motivo',
      slow: 'La escalación se está registrando; vuelva a cargar esta página dentro de un minuto para verla.',
      recorded: 'Su escalación está registrada.',
      escalated: 'Esta solicitud está escalada',
      labels: { status: 'Estado', requestedAt: 'Solicitada', responseDue: 'Primera respuesta prevista', acknowledgedAt: 'Respuesta del responsable', resolvedAt: 'Resuelta' },
      statuses: { requested: 'A la espera de un responsable de soporte', acknowledged: 'Un responsable de soporte le ha respondido', resolved: 'Resuelta' },
      onceOnly: 'Un caso solo puede escalarse una vez. Para pedir una actualización, añada un comentario a esta solicitud; si el impacto en su negocio ha aumentado, solicite en un comentario un nivel de gravedad más alto y describa el impacto.',
      resolvedTitle: 'La escalación de esta solicitud está resuelta',
      resolvedBody: 'Un caso solo puede escalarse una vez. Si todavía necesita ayuda, añada un comentario a esta solicitud.',
      solved: 'Esta solicitud está resuelta. Si el problema continúa, escalarla la vuelve a abrir.',
      closed: 'Esta solicitud está cerrada, por lo que ya no se puede escalar.',
      requesterOnly: 'Solo la persona que abrió esta solicitud puede escalarla. Puede añadir un comentario en su lugar.',
      contactLine: 'Nuevos datos de contacto',
      sentFrom: '(Enviado desde el centro de ayuda en español)'
    },
    'pt-BR': {
      intro: 'Se este chamado não estiver indo bem, você pode pedir que um gerente de suporte o analise.',
      action: 'Escalar esta solicitação',
      about: [
        'Um gerente de suporte, e não a pessoa que está atendendo seu chamado, analisa o chamado e entra em contato com você.',
        'A primeira resposta chega em até 24 horas úteis. Escalar não acelera, por si só, a solução.',
        'Um chamado só pode ser escalado uma vez. Para pedir uma atualização ou uma severidade mais alta, adicione um comentário.'
      ],
      reasonLabel: 'Por que este chamado deve ser escalado?',
      reasonHint: 'Descreva o impacto no seu negócio (pelo menos {min} caracteres).',
      contactLabel: 'Novos dados de contato para o gerente de suporte (opcional)',
      contactHint: 'Um e-mail ou número de telefone, se o gerente deve falar com você de outra forma que não pelos dados de contato deste chamado.',
      submit: 'Escalar',
      cancel: 'Cancelar',
      sending: 'Enviando…',
      reasonTooShort: 'Informe um motivo com pelo menos {min} caracteres.',
      contactInvalid: 'Informe um e-mail ou um número de telefone, ou deixe este campo em branco.',
      notSent: 'Não foi possível enviar a escalação por esta página. Em vez disso, adicione a esta solicitação um comentário com as palavras “{phrase}” e o seu motivo; ele será tratado da mesma forma.',
      notUpdatable: 'Esta solicitação não pode mais ser atualizada.',
      failed: 'Não foi possível enviar a escalação. Tente novamente ou adicione um comentário com as palavras “{phrase}” e o seu motivo.',
      requested: 'Escalação solicitada',
      requestedBody: 'Obrigado. Um gerente de suporte vai analisar seu chamado e entrar em contato com você. Os detalhes aparecem aqui assim que forem registrados.',
      yourReason: 'Seu motivo',
      slow: 'A escalação ainda está sendo registrada; recarregue esta página em um minuto para vê-la.',
      recorded: 'Sua escalação foi registrada.',
      escalated: 'Esta solicitação está escalada',
      labels: { status: 'Status', requestedAt: 'Solicitada', responseDue: 'Primeira resposta prevista', acknowledgedAt: 'Resposta do gerente', resolvedAt: 'Resolvida' },
      statuses: { requested: 'Aguardando um gerente de suporte', acknowledged: 'Um gerente de suporte respondeu a você', resolved: 'Resolvida' },
      onceOnly: 'Um chamado só pode ser escalado uma vez. Para pedir uma atualização, adicione um comentário a esta solicitação; se o impacto no seu negócio aumentou, peça em um comentário uma severidade mais alta e descreva o impacto.',
      resolvedTitle: 'A escalação desta solicitação foi resolvida',
      resolvedBody: 'Um chamado só pode ser escalado uma vez. Se ainda precisar de ajuda, adicione um comentário a esta solicitação.',
      solved: 'Esta solicitação está resolvida. Se o problema continuar, escalá-la vai reabri-la.',
      closed: 'Esta solicitação está encerrada e, por isso, não pode mais ser escalada.',
      requesterOnly: 'Somente a pessoa que abriu esta solicitação pode escalá-la. Você pode adicionar um comentário.',
      contactLine: 'Novos dados de contato',
      sentFrom: '(Enviado pela central de ajuda em português)'
    },
    ja: {
      intro: '本件の対応にご満足いただけていない場合は、サポートマネージャーに確認を依頼できます。',
      action: 'このリクエストをエスカレーションする',
      about: [
        'エスカレーションすると、現在本件を担当しているエンジニアではなく、サポートマネージャーが内容を確認し、お客様にご連絡いたします。',
        '初回のご連絡は、営業時間で24時間以内に差し上げます。エスカレーションだけで解決が早まるものではございません。',
        'エスカレーションは1件につき1回のみです。進捗の確認や重大度の引き上げをご希望の場合は、コメントでお知らせください。'
      ],
      reasonLabel: 'エスカレーションの理由',
      reasonHint: 'ビジネスへの影響をご記入ください（{min}文字以上）。',
      contactLabel: 'サポートマネージャーへの新しい連絡先（任意）',
      contactHint: '本件に登録されている連絡先以外でのご連絡をご希望の場合は、メールアドレスまたは電話番号をご記入ください。',
      submit: 'エスカレーションする',
      cancel: 'キャンセル',
      sending: '送信しています…',
      reasonTooShort: '理由を{min}文字以上でご記入ください。',
      contactInvalid: 'メールアドレスまたは電話番号を入力するか、空欄のままにしてください。',
      notSent: 'このページからエスカレーションを送信できませんでした。代わりに、「{phrase}」という語句と理由をこのリクエストへのコメントでお知らせください。同じように対応いたします。',
      notUpdatable: 'このリクエストは更新できなくなりました。',
      failed: 'エスカレーションを送信できませんでした。もう一度お試しいただくか、「{phrase}」という語句と理由をコメントでお知らせください。',
      requested: 'エスカレーションを受け付けました',
      requestedBody: 'ありがとうございます。サポートマネージャーが本件を確認し、お客様にご連絡いたします。詳細は記録され次第、ここに表示されます。',
      yourReason: 'ご記入いただいた理由',
      slow: 'エスカレーションを記録しています。1分ほどしてからページを再読み込みしてください。',
      recorded: 'エスカレーションを記録しました。',
      escalated: 'このリクエストはエスカレーション済みです',
      labels: { status: 'ステータス', requestedAt: '受付日時', responseDue: '初回連絡の期限', acknowledgedAt: 'サポートマネージャーの返信日時', resolvedAt: '解決日時' },
      statuses: { requested: 'サポートマネージャーの対応待ち', acknowledged: 'サポートマネージャーがご返信しました', resolved: '解決済み' },
      onceOnly: 'エスカレーションは1件につき1回のみです。進捗を確認されたい場合は、このリクエストにコメントを追加してください。ビジネスへの影響が大きくなった場合は、コメントで影響の内容をお知らせのうえ、重大度の引き上げをお申し付けください。',
      resolvedTitle: 'このリクエストのエスカレーションは解決済みです',
      resolvedBody: 'エスカレーションは1件につき1回のみです。引き続きサポートが必要な場合は、このリクエストにコメントを追加してください。',
      solved: 'このリクエストは解決済みです。問題が解決していない場合は、エスカレーションするとリクエストが再オープンされます。',
      closed: 'このリクエストはクローズされているため、エスカレーションできません。',
      requesterOnly: 'このリクエストをエスカレーションできるのは、リクエストを送信したご本人のみです。代わりにコメントを追加できます。',
      contactLine: '新しい連絡先',
      sentFrom: '（ヘルプセンターから日本語で送信）'
    }
  };

  // The shapes the service finds in a comment (plugin/escalations/core/text.py), so that what the form accepts is
  // what the Support Manager is told about; a phone number may open with "(" before its first digit.
  var EMAIL = /^[\w.+-]+@[\w-]+(\.[\w-]+)+$/u;
  var PHONE = /^(\+|\()?\d[\d\s().-]{6,}\d$/;

  // -- the pure part --------------------------------------------------------------------------

  /** The locale of the texts for a Help Center locale ("pt-br", "de-at", "en-us"): exact, language, English. */
  function localeFor(helpCenterLocale) {
    var wanted = String(helpCenterLocale || '').toLowerCase().replace('_', '-');
    var exact = LOCALES.filter(function (locale) { return locale.toLowerCase() === wanted; })[0];
    if (exact) return exact;
    var language = wanted.split('-')[0];
    var sameLanguage = LOCALES.filter(function (locale) { return locale.split('-')[0] === language; })[0];
    return sameLanguage || 'en';
  }

  /** The phrase the service listens for in this locale, as `escalations package-theme` wrote it. */
  function phraseFor(config, locale) {
    var phrases = (config && config.phrases) || {};
    return phrases[locale] || phrases.en || DEFAULT_PHRASE;
  }

  /**
   * The customer's comment: the phrase, their reason as written, new contact details if given, and the page's
   * language in a line of its own, from which the service knows which language to answer in.
   */
  function commentFor(config, locale, reason, contact) {
    var texts = TEXTS[locale] || TEXTS.en;
    var phrase = phraseFor(config, locale);
    var parts = [phrase.charAt(0).toLocaleUpperCase(locale) + phrase.slice(1) + ': ' + String(reason).trim()];
    var details = String(contact || '').trim();
    if (details) parts.push(texts.contactLine + ': ' + details);
    parts.push(texts.sentFrom);
    return parts.join('\n\n');
  }

  /** What is wrong with each of the form's values, as a text key ('' when it can be sent), every field at once. */
  function formProblems(reason, contact) {
    var problems = { reason: '', contact: '' };
    if (String(reason || '').trim().length < MIN_REASON_LENGTH) problems.reason = 'reasonTooShort';
    var details = String(contact || '').trim();
    if (details && !EMAIL.test(details)) {
      var digits = details.replace(/\D/g, '').length;
      if (!(PHONE.test(details) && digits >= 7 && digits <= 15)) problems.contact = 'contactInvalid';
    }
    return problems;
  }

  /** The escalation recorded on a request, from the customer-visible fields, or null when there is none. */
  function escalationOf(request, fields) {
    var values = {};
    (request.custom_fields || []).forEach(function (item) { values[item.id] = item.value; });
    var status = values[fields.status];
    if (status === null || status === undefined || status === '') return null;
    status = String(status);
    return {
      status: status.indexOf(STATUS_PREFIX) === 0 ? status.slice(STATUS_PREFIX.length) : status,
      requestedAt: values[fields.requested_at] || null,
      responseDue: values[fields.response_due] || null,
      acknowledgedAt: values[fields.acknowledged_at] || null,
      resolvedAt: values[fields.resolved_at] || null
    };
  }

  /**
   * What the signed-in user sees: 'offer' (the action and its form), 'escalated' (the recorded state),
   * 'closed', 'requester_only' (a copied end-user where only the requester may escalate) or 'none'
   * (agents, and anyone not on the request). The same rules as the service's policy.
   */
  function viewFor(request, user, config) {
    if (!request || !user || user.role !== 'end-user') return 'none';
    var isRequester = user.id === request.requester_id;
    var copied = (request.email_cc_ids || []).concat(request.collaborator_ids || []);
    if (!isRequester && copied.indexOf(user.id) === -1) return 'none';
    if (escalationOf(request, config.fields)) return 'escalated';
    if (request.status === 'closed') return 'closed';
    if (!isRequester && config.requesterOnly) return 'requester_only';
    return 'offer';
  }

  /**
   * The customer's time zone for dates: their profile's (users/me gives it as an IANA name), else the account's
   * as `escalations package-theme` wrote it; one this browser does not know falls back the same way.
   */
  function timeZoneFor(user, config) {
    var candidates = [user && user.iana_time_zone, config && config.timezone, 'UTC'];
    for (var index = 0; index < candidates.length; index += 1) {
      var zone = candidates[index];
      if (!zone) continue;
      try {
        new Intl.DateTimeFormat('en', { timeZone: zone });
        return zone;
      } catch (error) {
        // Not a zone this browser knows: try the next.
      }
    }
    return 'UTC';
  }

  /** A date and time in the reader's language and time zone, with the zone named ("Dec 8, 2026, 3:15 PM Central European Standard Time"). */
  function formatTime(value, helpCenterLocale, timeZone) {
    var moment = new Date(value);
    if (isNaN(moment.getTime())) return String(value);
    var options = { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZone: timeZone, timeZoneName: 'long' };
    try {
      return new Intl.DateTimeFormat(helpCenterLocale, options).format(moment);
    } catch (error) {
      return new Intl.DateTimeFormat(undefined, options).format(moment);
    }
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  // -- the page ---------------------------------------------------------------------------------

  var counter = 0;

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === true) node.setAttribute(name, '');
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value));
    });
    (children || []).forEach(function (child) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function api(path, options) {
    var settings = Object.assign({ credentials: 'same-origin' }, options || {});
    settings.headers = Object.assign({ Accept: 'application/json' }, settings.headers || {});
    return fetch(path, settings);
  }

  function readJson(path) {
    return api(path).then(function (response) {
      if (!response.ok) throw new Error(path + ' answered ' + response.status);
      return response.json();
    });
  }

  function Widget(section) {
    this.section = section;
    this.requestId = section.getAttribute('data-request-id');
    this.helpCenterLocale = section.getAttribute('data-locale') || 'en-us';
    this.locale = localeFor(this.helpCenterLocale);
    this.texts = TEXTS[this.locale];
    var data = section.querySelector('script[data-escalation-request-config]');
    this.config = JSON.parse(data ? data.textContent : '{}');
    this.requestPath = '/api/v2/requests/' + encodeURIComponent(this.requestId) + '.json';
    // One live region for the section's whole life: what changes is announced, whatever panel shows.
    this.live = element('p', { class: 'escalation-request__live', role: 'status', 'aria-live': 'polite' });
  }

  Widget.prototype.start = function () {
    var widget = this;
    return Promise.all([readJson('/api/v2/users/me.json'), readJson(this.requestPath)]).then(function (answers) {
      widget.user = answers[0].user;
      widget.timeZone = timeZoneFor(widget.user, widget.config);
      widget.section.append(widget.live);
      widget.show(answers[1].request);
    }, function () {
      // Not signed in, not on this request, or the API is unavailable: the page stays as the theme made it.
    });
  };

  Widget.prototype.announce = function (text) {
    this.live.textContent = text;
  };

  Widget.prototype.show = function (request) {
    var view = viewFor(request, this.user, this.config);
    var panel;
    if (view === 'offer') panel = this.offer(request);
    else if (view === 'escalated') panel = this.escalated(request);
    else if (view === 'closed') panel = this.closed();
    else if (view === 'requester_only') panel = element('p', {}, [this.texts.requesterOnly]);
    this.replace(view, panel);
  };

  /** Show another panel; keyboard focus that was in the section moves to the new panel's heading, never to the page. */
  Widget.prototype.replace = function (view, panel) {
    var live = this.live;
    var hadFocus = this.section.contains(document.activeElement) && document.activeElement !== document.body;
    this.section.querySelectorAll(':scope > :not(script)').forEach(function (node) {
      if (node !== live) node.remove();
    });
    this.section.setAttribute('data-escalation-view', view);
    if (!panel) {
      this.section.hidden = true;
      return;
    }
    this.section.insertBefore(panel, live.parentNode === this.section ? live : null);
    this.section.hidden = false;
    var heading = panel.querySelector('h2');
    if (hadFocus && heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
  };

  /** A field with its label, hint and error, the last two tied to the control with aria-describedby. */
  function formField(control, label, hint) {
    var hintNode = element('p', { id: control.id + '-hint', class: 'escalation-request__hint' }, [hint]);
    var error = element('p', { id: control.id + '-error', class: 'escalation-request__error', hidden: true });
    control.setAttribute('aria-describedby', hintNode.id + ' ' + error.id);
    var node = element('div', { class: 'escalation-request__field' }, [element('label', { for: control.id }, [label]), hintNode, control, error]);
    return {
      node: node,
      control: control,
      show: function (message) {
        error.textContent = message;
        error.hidden = !message;
        node.classList.toggle('escalation-request__field--invalid', Boolean(message));
        if (message) control.setAttribute('aria-invalid', 'true');
        else control.removeAttribute('aria-invalid');
      }
    };
  }

  Widget.prototype.offer = function (request) {
    var texts = this.texts;
    var widget = this;
    var id = 'escalation-request-' + (++counter);
    var open = element('button', { type: 'button', class: 'escalation-request__open', 'aria-expanded': 'false', 'aria-controls': id }, [texts.action]);
    var reason = formField(
      element('textarea', { id: id + '-reason', name: 'reason', rows: 5, maxlength: MAX_REASON_LENGTH, required: true }),
      texts.reasonLabel,
      fill(texts.reasonHint, { min: MIN_REASON_LENGTH })
    );
    var contact = formField(
      element('input', { id: id + '-contact', name: 'contact', type: 'text', autocomplete: 'email', maxlength: 200 }),
      texts.contactLabel,
      texts.contactHint
    );
    var problem = element('p', { class: 'escalation-request__problem', role: 'alert' });
    var submit = element('button', { type: 'submit', class: 'escalation-request__submit' }, [texts.submit]);
    var cancel = element('button', { type: 'button', class: 'escalation-request__cancel' }, [texts.cancel]);
    var form = element('form', { id: id, class: 'escalation-request__form', novalidate: true, hidden: true, 'aria-labelledby': id + '-title' }, [
      element('h2', { id: id + '-title', class: 'escalation-request__title', tabindex: '-1' }, [texts.action]),
      element('div', { class: 'escalation-request__about' }, texts.about.map(function (line) { return element('p', {}, [line]); })),
      reason.node,
      contact.node,
      problem,
      element('div', { class: 'escalation-request__actions' }, [submit, cancel])
    ]);
    var offer = element('div', { class: 'escalation-request__offer' }, [
      element('p', { class: 'escalation-request__intro' }, [texts.intro]),
      open
    ]);
    open.addEventListener('click', function () {
      form.hidden = false;
      offer.hidden = true;
      open.setAttribute('aria-expanded', 'true');
      reason.control.focus();
    });
    cancel.addEventListener('click', function () {
      form.hidden = true;
      offer.hidden = false;
      open.setAttribute('aria-expanded', 'false');
      open.focus();
    });
    [reason, contact].forEach(function (field) {
      field.control.addEventListener('input', function () { field.show(''); });
    });
    var sending = false;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (sending) return;
      problem.textContent = '';
      var problems = formProblems(reason.control.value, contact.control.value);
      reason.show(problems.reason ? fill(texts[problems.reason], { min: MIN_REASON_LENGTH }) : '');
      contact.show(problems.contact ? texts[problems.contact] : '');
      var first = problems.reason ? reason : problems.contact ? contact : null;
      if (first) {
        first.control.focus();
        return;
      }
      // aria-disabled rather than disabled: a disabled button loses the keyboard focus to the page.
      sending = true;
      submit.setAttribute('aria-disabled', 'true');
      submit.textContent = texts.sending;
      widget.announce(texts.sending);
      widget.send(reason.control.value, contact.control.value).then(function (refusal) {
        if (!refusal) return;
        sending = false;
        widget.announce('');
        problem.textContent = refusal;
        submit.removeAttribute('aria-disabled');
        submit.textContent = texts.submit;
        submit.focus();
      });
    });
    var children = [offer, form];
    if (request.status === 'solved') children.unshift(element('p', { class: 'escalation-request__note' }, [texts.solved]));
    return element('div', { class: 'escalation-request__panel' }, children);
  };

  /**
   * Add the comment as the signed-in customer; resolves to a refusal to show, or '' once sent. A refused write
   * (401, 403: no session, a bad token, or a plan where theme scripts may not write) is not cured by a reload:
   * the customer is offered the phrase in a comment, which works on every plan.
   */
  Widget.prototype.send = function (reason, contact) {
    var widget = this;
    var texts = this.texts;
    var phrase = { phrase: phraseFor(this.config, this.locale) };
    var body = commentFor(this.config, this.locale, reason, contact);
    // A fresh token for the write, as Zendesk documents: the session's CSRF token from users/me.
    return readJson('/api/v2/users/me.json').then(function (answer) {
      return api(widget.requestPath, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': answer.user.authenticity_token || '' },
        body: JSON.stringify({ request: { comment: { body: body } } })
      });
    }).then(function (response) {
      if (response.ok) {
        widget.requested(reason.trim());
        return '';
      }
      if (response.status === 401 || response.status === 403) return fill(texts.notSent, phrase);
      if (response.status === 404 || response.status === 422) return texts.notUpdatable;
      return fill(texts.failed, phrase);
    }, function () {
      return fill(texts.failed, phrase);
    });
  };

  /** Sent: say so, then show the recorded state once the service has applied it. */
  Widget.prototype.requested = function (reason) {
    var texts = this.texts;
    var panel = element('div', { class: 'escalation-request__panel' }, [
      element('h2', { class: 'escalation-request__title', tabindex: '-1' }, [texts.requested]),
      element('p', {}, [texts.requestedBody]),
      element('p', { class: 'escalation-request__label' }, [texts.yourReason]),
      element('blockquote', { class: 'escalation-request__reason' }, [reason])
    ]);
    this.replace('requested', panel);
    this.announce(texts.requested);
    this.watch(Date.now() + WATCH_FOR_MS, panel);
  };

  Widget.prototype.watch = function (until, panel) {
    var widget = this;
    window.setTimeout(function () {
      readJson(widget.requestPath).then(function (answer) {
        if (escalationOf(answer.request, widget.config.fields)) {
          widget.show(answer.request);
          widget.announce(widget.texts.recorded);
        } else {
          widget.keepWatching(until, panel);
        }
      }, function () {
        widget.keepWatching(until, panel);
      });
    }, WATCH_EVERY_MS);
  };

  Widget.prototype.keepWatching = function (until, panel) {
    if (Date.now() < until) this.watch(until, panel);
    else panel.append(element('p', { class: 'escalation-request__note' }, [this.texts.slow]));
  };

  Widget.prototype.escalated = function (request) {
    var texts = this.texts;
    var locale = this.helpCenterLocale;
    var zone = this.timeZone;
    var escalation = escalationOf(request, this.config.fields);
    var resolved = escalation.status === 'resolved';
    var facts = element('dl', { class: 'escalation-request__facts' });
    function fact(key, label, value) {
      if (value) facts.append(element('dt', {}, [label]), element('dd', { 'data-fact': key }, [value]));
    }
    function when(value) {
      return value && formatTime(value, locale, zone);
    }
    if (!resolved) fact('status', texts.labels.status, texts.statuses[escalation.status] || escalation.status);
    fact('requested_at', texts.labels.requestedAt, when(escalation.requestedAt));
    if (escalation.status === 'requested') fact('response_due', texts.labels.responseDue, when(escalation.responseDue));
    fact('acknowledged_at', texts.labels.acknowledgedAt, when(escalation.acknowledgedAt));
    fact('resolved_at', texts.labels.resolvedAt, when(escalation.resolvedAt));
    var closing = request.status === 'closed' ? this.closed() : element('p', {}, [resolved ? texts.resolvedBody : texts.onceOnly]);
    return element('div', { class: 'escalation-request__panel' }, [
      element('h2', { class: 'escalation-request__title' }, [resolved ? texts.resolvedTitle : texts.escalated]),
      facts,
      closing
    ]);
  };

  /** A closed request: the theme itself offers the follow-up (Copenhagen's comment callout), so no link here. */
  Widget.prototype.closed = function () {
    return element('p', { class: 'escalation-request__closed' }, [this.texts.closed]);
  };

  window.EscalationRequest = Object.freeze({
    LOCALES: LOCALES.slice(),
    MIN_REASON_LENGTH: MIN_REASON_LENGTH,
    localeFor: localeFor,
    phraseFor: phraseFor,
    commentFor: commentFor,
    formProblems: formProblems,
    escalationOf: escalationOf,
    viewFor: viewFor,
    timeZoneFor: timeZoneFor,
    formatTime: formatTime,
    texts: function (locale) { return TEXTS[localeFor(locale)]; }
  });

  function startAll() {
    document.querySelectorAll('[data-escalation-request]').forEach(function (section) {
      new Widget(section).start();
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', startAll);
  else startAll();
})();
